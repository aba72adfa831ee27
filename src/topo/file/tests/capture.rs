//! A link's `capture:`, written back by `to_yaml`, and every mistake in
//! it at its line.

use super::*;
use crate::topo::capture::{recordings, DEFAULT_FILES, DEFAULT_MAX_SIZE};

fn with_capture(setting: &str) -> String {
    base_with(
        "\"s1:p1\"]\n",
        &format!("\"s1:p1\"]\n      capture: {setting}\n"),
    )
}

#[test]
fn capture_true_records_the_host_end_with_the_defaults() {
    let t = parse(&with_capture("true"), None).unwrap();
    let r = t.links[0].capture.clone().expect("capture");
    assert_eq!(
        (r.max_size(), r.files(), r.both_ends),
        (DEFAULT_MAX_SIZE, DEFAULT_FILES, false)
    );
    assert!(t.links[1].capture.is_none());
    let recs = recordings(&t);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].link, "h1:eth0--s1:p1");
    let ends: Vec<String> = recs[0].ends.iter().map(|e| e.label()).collect();
    assert_eq!(ends, ["h1:eth0"]);
    // `false` and nothing are no recording.
    for off in ["false", ""] {
        let t = parse(&with_capture(off), None).unwrap();
        assert!(t.links[0].capture.is_none(), "{off:?}");
    }
}

#[test]
fn capture_settings_are_read_and_written_back() {
    let t = parse(
        &with_capture("{max_size: 1MiB, files: 10, both_ends: true}"),
        None,
    )
    .unwrap();
    let r = t.links[0].capture.clone().expect("capture");
    assert_eq!(r.max_size, Some(1 << 20));
    assert_eq!(r.files, Some(10));
    assert!(r.both_ends);
    let ends: Vec<String> = recordings(&t)[0].ends.iter().map(|e| e.label()).collect();
    assert_eq!(ends, ["h1:eth0", "s1:p1"]);
    for size in ["64kb", "65536", "64k"] {
        let t = parse(&with_capture(&format!("{{max_size: {size}}}")), None).unwrap();
        assert_eq!(
            t.links[0].capture.as_ref().and_then(|r| r.max_size),
            Some(65536)
        );
    }
    let text = to_yaml(&t);
    assert!(
        text.contains("capture: {max_size: 1048576, files: 10, both_ends: true}"),
        "{text}"
    );
    assert_eq!(parse(&text, None).unwrap(), t);
    let plain = parse(&with_capture("true"), None).unwrap();
    assert!(to_yaml(&plain).contains("      capture: true\n"));
    assert_eq!(parse(&to_yaml(&plain), None).unwrap(), plain);
    // Through the journal's JSON.
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(serde_json::from_str::<Topology>(&json).unwrap(), t);
}

#[test]
fn bad_capture_settings_point_at_their_line() {
    let e = expect(
        &with_capture("always"),
        9,
        "`capture` should be true, false or a mapping, found `always`",
    );
    assert!(e.hint.as_deref().unwrap_or("").contains("capture: true"));
    let e = expect(
        &with_capture("{max_sise: 1mb}"),
        9,
        "unknown key `max_sise` in `capture`",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `max_size`?"));
    expect(
        &with_capture("{max_size: 2 parsecs}"),
        9,
        "unknown size unit `parsecs`",
    );
    let e = expect(
        &with_capture("{max_size: 100}"),
        9,
        "`max_size` 100 bytes of the recording of link h1:eth0--s1:p1 is out of range 4kb..=2048mb",
    );
    assert!(e.hint.is_some());
    expect(
        &with_capture("{files: 0}"),
        9,
        "`files` 0 of the recording of link h1:eth0--s1:p1 is out of range 1..=1000",
    );
    expect(
        &with_capture("{files: -1}"),
        9,
        "`files` should be a whole number of files to keep, found `-1`",
    );
    expect(
        &with_capture("{both_ends: maybe}"),
        9,
        "`both_ends` should be true or false",
    );
    // A multi-line mapping points at the setting's own line.
    let text = base_with(
        "\"s1:p1\"]\n",
        "\"s1:p1\"]\n      capture:\n        files: 2\n        max_size: 1kb\n",
    );
    expect(&text, 11, "`max_size` 1024 bytes");
}
