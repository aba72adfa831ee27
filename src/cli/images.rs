//! `up --images namespace`: `image:` nodes whose image is not in
//! podman's or docker's local store run as plain namespace nodes.

use crate::lab;
use crate::topo;

/// Whether some `image:` node's image is not here (`--images namespace`
/// then has work to do).
pub fn images_as_namespaces(t: &topo::Topology) -> bool {
    t.nodes.values().any(|n| missing_image(n).is_some())
}

fn missing_image(n: &topo::Node) -> Option<&str> {
    match &n.attach {
        Some(topo::external::Attach::Image(spec)) if !lab::image_available(&spec.image) => {
            Some(&spec.image)
        }
        _ => None,
    }
}

/// `--images namespace`: the `image:` nodes whose image is not here
/// become plain namespace nodes, with one warning; returns how many.
pub fn drop_missing_images(t: &mut topo::Topology) -> usize {
    let mut dropped = Vec::new();
    for n in t.nodes.values_mut() {
        if let Some(image) = missing_image(n) {
            dropped.push(format!("{} ({image})", n.name));
            n.attach = None;
        }
    }
    if !dropped.is_empty() {
        eprintln!(
            "warning: --images namespace: {} run as plain namespace nodes, without their \
             images' programs, files and binds (the images are not in podman's or docker's local store)",
            dropped.join(", ")
        );
    }
    dropped.len()
}
