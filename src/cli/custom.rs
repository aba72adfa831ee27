//! `nlab up --custom FILE.py --topo NAME[,ARGS]`: Mininet's custom
//! topologies. The file is Python (its `topos = {...}` dict names the
//! topologies), so nlab's Python package reads it: `python3 -m
//! mininet.nlab_export FILE NAME[,ARGS]` prints the topology as nlab's
//! topology file (JSON), which is parsed and validated like any file.

use super::output::BadInput;
use crate::topo::{self, ValidTopology};
use std::path::Path;
use std::process::{Command, Stdio};

/// The interpreter that runs the exporter: `$NLAB_PYTHON`, else `python3`.
pub(crate) fn python() -> std::ffi::OsString {
    std::env::var_os("NLAB_PYTHON").unwrap_or_else(|| "python3".into())
}

/// Loads topology `spec` (`mytopo,3`) of the custom file `file`; the lab is
/// named `name`, else the topology's name.
pub fn load(file: &Path, spec: &str, name: Option<&str>) -> anyhow::Result<ValidTopology> {
    let py = python();
    let shown = py.to_string_lossy().into_owned();
    let out = Command::new(&py)
        .args(["-m", "mininet.nlab_export"])
        .arg(file)
        .arg(spec)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            BadInput(format!(
                "--custom {}: cannot run {shown}: {e}; install Python 3, or set NLAB_PYTHON to an interpreter",
                file.display()
            ))
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let hint = if err.contains("No module named") {
            "; install nlab's Python package for this interpreter (pip install ./python in nlab's checkout) or set NLAB_PYTHON to one that has it"
        } else {
            ""
        };
        return Err(BadInput(format!(
            "--custom {} --topo {spec}: {shown} -m mininet.nlab_export failed: {}{hint}",
            file.display(),
            err.trim()
        ))
        .into());
    }
    let text = String::from_utf8(out.stdout).map_err(|e| {
        BadInput(format!(
            "--custom {}: the exporter printed no UTF-8 text: {e}",
            file.display()
        ))
    })?;
    let source = format!("{} (--topo {spec})", file.display());
    Ok(topo::file::parse_valid(&text, Some(&source), name)?)
}

/// What the journal records as the lab's source: the custom file and the
/// topology's name (its arguments are like a file's content).
pub fn origin(file: Option<&Path>, spec: &str) -> Option<String> {
    let file = file?;
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let kind = spec.split(',').next().unwrap_or("").trim();
    Some(format!("custom:{}:{kind}", abs.display()))
}
