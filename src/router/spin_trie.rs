//! An index of Spin routes by their segments: a trie whose edges are a
//! route's literal segments and its `:name` segments, so that a lookup walks
//! the request path's segments once and meets only the routes that can match
//! it, however many routes share a first segment (a mounted Spin app puts all
//! of its routes under its base). It finds exactly the routes that
//! [`SpinRoute::matches`] accepts; ranking them stays with the router.

use std::collections::HashMap;

use super::spin_route::{SegmentRef, SpinRoute};

#[derive(Debug, Clone, Default)]
pub(super) struct SpinTrie {
    root: Node,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// The child for each literal segment.
    literals: HashMap<String, Node>,
    /// The child for a `:name` segment, whatever its name: names do not take
    /// part in matching.
    param: Option<Box<Node>>,
    /// The routes whose segments end here, without and with a trailing
    /// wildcard, by their index in the router's table.
    ends: Vec<usize>,
    wildcards: Vec<usize>,
}

impl SpinTrie {
    /// Adds `route`, known to the router as `index`.
    pub(super) fn insert(&mut self, route: &SpinRoute, index: usize) {
        let mut node = &mut self.root;
        for segment in route.segment_refs() {
            node = match segment {
                SegmentRef::Literal(literal) => {
                    node.literals.entry(literal.to_owned()).or_default()
                }
                SegmentRef::Param => node.param.get_or_insert_with(Box::default),
            };
        }
        match route.has_wildcard() {
            true => node.wildcards.push(index),
            false => node.ends.push(index),
        }
    }

    /// Hands `found` the index of every route that matches `path`, in no
    /// particular order.
    pub(super) fn for_each_match(&self, path: &str, mut found: impl FnMut(usize)) {
        if let Some(rest) = path.strip_prefix('/') {
            self.root.collect(path, rest, 0, &mut found);
        }
    }
}

impl Node {
    /// `rest` is what follows the segments matched on the way here, less its
    /// leading '/'; `end` is where in `path` those segments end. Cuts the
    /// path exactly as [`SpinRoute::matches`] does, so that both agree on
    /// every path (empty segments and a trailing '/' included).
    fn collect(&self, path: &str, rest: &str, end: usize, found: &mut impl FnMut(usize)) {
        self.wildcards.iter().copied().for_each(&mut *found);
        if matches!(&path[end..], "" | "/") {
            self.ends.iter().copied().for_each(&mut *found);
        }
        if self.literals.is_empty() && self.param.is_none() {
            return;
        }
        let (part, after) = rest.split_once('/').unwrap_or((rest, ""));
        let next_end = path.len() - rest.len() + part.len();
        if let Some(child) = self.literals.get(part) {
            child.collect(path, after, next_end, found);
        }
        if let Some(child) = self.param.as_deref().filter(|_| !part.is_empty()) {
            child.collect(path, after, next_end, found);
        }
    }
}
