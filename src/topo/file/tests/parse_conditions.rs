//! `conditions:`, `schedule:` and `defaults.conditions` in files.

use super::*;
use crate::topo::conditions::{Distribution, Loss, StepAction};
use std::time::Duration;

fn link2(extra: &str) -> String {
    base_with("\"s1:p2\"]", &format!("\"s1:p2\"]\n{extra}"))
}

#[test]
fn per_direction_overrides_are_keyed_by_the_sending_end() {
    let t = parse(
        &link2(
            "      conditions:\n        delay: 20ms\n        \"s1:p2\": {rate: 1mbit, delay: 5ms}",
        ),
        None,
    )
    .unwrap();
    let c = &t.links[1].conditions;
    assert_eq!(t.links[1].endpoints[0].id(), "h2:eth0");
    assert_eq!(c.a_to_b.delay, Duration::from_millis(20));
    assert_eq!(c.a_to_b.rate, None);
    assert_eq!(c.b_to_a.delay, Duration::from_millis(5));
    assert_eq!(c.b_to_a.rate.unwrap().bits_per_sec, 1_000_000);
    assert!(t.links[0].conditions.is_none());
}

#[test]
fn map_forms_and_presets() {
    let t = parse(
        &link2(
            "      conditions:\n        preset: lte\n        jitter: {amount: 3ms, distribution: pareto, correlation: 10%}\n        loss: {p: 1%, r: 30%}\n        rate: {rate: 5mbit, burst: 16kb}",
        ),
        None,
    )
    .unwrap();
    let i = &t.links[1].conditions.a_to_b;
    assert_eq!(i.delay, Duration::from_millis(25), "from the preset");
    let j = i.jitter.unwrap();
    assert_eq!(
        (j.amount, j.distribution, j.correlation),
        (Duration::from_millis(3), Distribution::Pareto, 10.0)
    );
    assert_eq!(
        i.loss,
        Some(Loss::GilbertElliott {
            p: 1.0,
            r: 30.0,
            one_minus_h: 100.0,
            one_minus_k: 0.0
        })
    );
    assert_eq!(i.rate.unwrap().burst_bytes, Some(16 * 1024));
}

#[test]
fn defaults_apply_to_every_link_and_links_override() {
    let text = BASE
        .replacen(
            "  nodes:",
            "  defaults:\n    conditions: {delay: 5ms, rate: 100mbit}\n  nodes:",
            1,
        )
        .replacen(
            "\"s1:p2\"]",
            "\"s1:p2\"]\n      conditions: {rate: 1mbit}",
            1,
        );
    let t = parse(&text, None).unwrap();
    assert_eq!(t.links[0].conditions.a_to_b.delay, Duration::from_millis(5));
    assert_eq!(
        t.links[0].conditions.b_to_a.rate.unwrap().bits_per_sec,
        100_000_000
    );
    assert_eq!(t.links[1].conditions.a_to_b.delay, Duration::from_millis(5));
    assert_eq!(
        t.links[1].conditions.a_to_b.rate.unwrap().bits_per_sec,
        1_000_000
    );
}

#[test]
fn bad_values_point_at_their_place() {
    let e = expect(&link2("      conditions: {delay: 20}"), 10, "needs a unit");
    assert_eq!(e.hint.as_deref(), Some("20ms?"));
    assert_eq!(e.loc.column, 27, "at the value");
    let e = expect(
        &link2("      conditions: {loss: 150%}"),
        10,
        "outside 0%–100%",
    );
    assert_eq!(e.msg, "loss `150%` is outside 0%–100%");
    expect(&link2("      conditions: {rate: 10}"), 10, "needs a unit");
    expect(
        &link2("      conditions: {rate: 10mb}"),
        10,
        "unknown rate unit",
    );
    expect(
        &link2("      conditions: {\"h9:eth0\": {rate: 1mbit}}"),
        10,
        "is not an end of this link",
    );
    expect(
        &link2("      conditions: {reorder: 5%}"),
        10,
        "without a `delay`",
    );
    expect(
        &link2("      conditions: {preset: 5g}"),
        10,
        "unknown preset",
    );
    expect(
        &link2("      conditions: {jitter: {distribution: normal}}"),
        10,
        "needs `amount`",
    );
}

#[test]
fn schedules_resolve_against_the_link() {
    let t = parse(
        &link2(
            "      conditions: {delay: 10ms}\n      schedule:\n        - {at: 10s, loss: 30%}\n        - {at: 20s, down: true}\n        - at: 25s\n          up: true",
        ),
        None,
    )
    .unwrap();
    let s = &t.links[1].schedule;
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].at, Duration::from_secs(10));
    let StepAction::Set(d) = &s[0].action else {
        panic!("{s:?}")
    };
    assert_eq!(d.a_to_b.delay, Duration::from_millis(10), "base kept");
    assert_eq!(d.b_to_a.loss, Some(Loss::Random { percent: 30.0 }));
    assert_eq!(s[1].action, StepAction::Down);
    assert_eq!(s[2].action, StepAction::Up);
    // Emitting and reading back gives the same link.
    let again = parse(&crate::topo::file::to_yaml(&t), None).unwrap();
    assert_eq!(again, t);
}

#[test]
fn bad_schedules() {
    expect(
        &link2("      schedule:\n        - {at: 20s, loss: 1%}\n        - {at: 10s, loss: 2%}"),
        12,
        "in time order",
    );
    expect(
        &link2("      schedule:\n        - {loss: 1%}"),
        11,
        "needs `at`",
    );
    expect(
        &link2("      schedule:\n        - {at: 10, loss: 1%}"),
        11,
        "needs a unit",
    );
    expect(
        &link2("      schedule:\n        - {at: 1s, down: true, loss: 1%}"),
        11,
        "not both",
    );
    expect(
        &link2("      schedule:\n        - {at: 1s}"),
        11,
        "changes nothing",
    );
}

#[test]
fn asymmetric_conditions_survive_emit() {
    let t = parse(
        &link2("      conditions: {\"h2:eth0\": {rate: 1mbit}, \"s1:p2\": {delay: 5ms, jitter: 1ms normal}}"),
        None,
    )
    .unwrap();
    let y = crate::topo::file::to_yaml(&t);
    assert!(y.contains("\"h2:eth0\": {rate: 1mbit}"), "{y}");
    assert_eq!(parse(&y, None).unwrap(), t);
}

#[test]
fn a_shared_mistake_is_reported_once() {
    let errs = fail(&link2("      conditions: {delay: 20, reorder: 5%}"));
    let text = errs.to_string();
    assert_eq!(text.matches("needs a unit").count(), 1, "{text}");
    assert_eq!(text.matches("without a `delay`").count(), 1, "{text}");
}
