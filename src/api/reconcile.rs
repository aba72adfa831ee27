//! The reconciler hook: after each committed write the API wakes one
//! thread, which takes a [`Snapshot`] and hands it to [`realize`]; many
//! commits coalesce into one pass. The port statuses it returns are
//! written back, with the `binding:vif_details` of ports bound to a VM's
//! TAP.

use std::sync::mpsc::{channel, Sender};

use serde_json::{Map, Value};

use crate::vnet::model::{Port, Resource};
use crate::vnet::ops::Fault;
use crate::vnet::store::{Snapshot, Store};

/// What a pass reports of each port: (id, status, `binding:vif_details`).
/// The status is `ACTIVE` when its kernel object exists, `DOWN`
/// otherwise; the details are a TAP port's (empty for every other).
pub(crate) type PortStatuses = Vec<(String, String, Map<String, Value>)>;

/// Makes the kernel match `snap` (through [`crate::vnet::realize`], which
/// takes an empty world's lab down) and says what each port now is. The
/// ports nlab's own routers hold (`network:router_interface`,
/// `network:router_gateway`) are `ACTIVE` once the pass built them, as
/// Neutron's L3 agent reports them (clients such as Tempest wait for that
/// before they remove an interface).
pub(crate) fn realize(snap: &Snapshot, lab: &str) -> Result<PortStatuses, String> {
    let (world, warnings) = crate::vnet::world::from_snapshot(snap);
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let report = crate::vnet::realize::apply(&world, lab).map_err(|e| e.to_string())?;
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    let mut out: PortStatuses = report
        .ports
        .iter()
        .map(|(id, s)| {
            let vif = report
                .vifs
                .get(id)
                .and_then(|v| serde_json::to_value(v).ok())
                .and_then(|v| match v {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .unwrap_or_default();
            (id.clone(), status_word(*s).to_string(), vif)
        })
        .collect();
    out.extend(
        snap.ports
            .iter()
            .filter(|p| {
                matches!(
                    p.device_owner.as_str(),
                    "network:router_interface" | "network:router_gateway"
                )
            })
            .map(|p| (p.id.clone(), "ACTIVE".to_string(), Map::new())),
    );
    Ok(out)
}

fn status_word(s: crate::vnet::realize::PortStatus) -> &'static str {
    match s {
        crate::vnet::realize::PortStatus::Active => "ACTIVE",
        crate::vnet::realize::PortStatus::Down => "DOWN",
    }
}

/// The handle the API wakes the reconciler through.
pub(crate) struct Reconciler {
    wake: Sender<()>,
}

impl Reconciler {
    /// Runs one pass (convergence on start, before the API listens), then
    /// starts the reconciler thread on its own connection to the store.
    pub(crate) fn start(store: Store, lab: String) -> anyhow::Result<Reconciler> {
        pass(&store, &lab)
            .map_err(|e| anyhow::anyhow!("converging lab {lab} to the database on start: {e}"))?;
        let (wake, rx) = channel::<()>();
        std::thread::Builder::new()
            .name("vnet-reconcile".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    while rx.try_recv().is_ok() {}
                    if let Err(e) = pass(&store, &lab) {
                        eprintln!("nlab serve: reconcile: {e}");
                    }
                }
            })?;
        Ok(Reconciler { wake })
    }

    /// Asks for a pass (after a commit).
    pub(crate) fn wake(&self) {
        let _ = self.wake.send(());
    }
}

fn pass(store: &Store, lab: &str) -> Result<(), String> {
    let snap = store.snapshot().map_err(|f| f.message)?;
    let statuses = realize(&snap, lab)?;
    if statuses.is_empty() {
        return Ok(());
    }
    store
        .write(|tx| {
            for (id, status, vif) in &statuses {
                if let Some(mut p) = tx.get::<Port>(id)? {
                    if &p.status != status || &p.binding_vif_details != vif {
                        p.status = status.clone();
                        p.binding_vif_details = vif.clone();
                        p.touch(&tx.now);
                        tx.put(&p)?;
                    }
                }
            }
            Ok::<(), Fault>(())
        })
        .map_err(|f| f.message)
}
