//! Spin's routes: `:name` segments, a trailing `/...`, a request path that
//! may end with one `/` more, and the ranking that orders the routes
//! matching one path (shared with the native routes).

use super::{ELLIPSIS, PREFIX_SUFFIX, is_forbidden_in_path};

/// A route as a Spin manifest writes it: literal segments, `:name` segments that
/// match any one non-empty segment, and an optional trailing `/...` that matches
/// whatever follows, nothing included. As in Spin, a request path may end with
/// one `/` more than the route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpinRoute {
    /// As written in the manifest.
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A segment as the router's index sees it: a `:name` matches the same
/// paths whatever its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SegmentRef<'a> {
    Literal(&'a str),
    Param,
}

/// What a path matched by a [`SpinRoute`] holds beyond the route.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captures<'p> {
    /// The value of each `:name` segment, in route order.
    pub params: Vec<(&'p str, &'p str)>,
    /// What the trailing wildcard matched, from its leading `/`; empty when
    /// the route has none or it matched nothing.
    pub path_info: &'p str,
}

impl SpinRoute {
    /// Reads a route of a `[[trigger.http]]`: `/`, `/users/:id`, `/static/...`. A
    /// missing leading `/` is added and a trailing `/` dropped, as Spin does.
    pub fn parse(raw: &str) -> Result<SpinRoute, String> {
        if let Some(bad) = raw.chars().find(|&c| is_forbidden_in_path(c)) {
            return Err(format!(
                "`{raw}` contains {bad:?}; a route is a path without whitespace, query or fragment"
            ));
        }
        let (path, wildcard) = match raw.strip_suffix(PREFIX_SUFFIX) {
            Some(base) => (base, true),
            None if raw == ELLIPSIS => ("", true),
            None => (raw, false),
        };
        let path = path.trim_start_matches('/');
        let path = path.strip_suffix('/').unwrap_or(path);
        let mut segments = Vec::new();
        for segment in path.split('/').filter(|_| !path.is_empty()) {
            if segment.contains(ELLIPSIS) {
                return Err(format!(
                    "`{raw}`: `...` may only end a route, as in `/static/...`"
                ));
            }
            segments.push(match segment.strip_prefix(':') {
                Some("") => return Err(format!("`{raw}`: a `:` segment needs a name")),
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal(segment.to_owned()),
            });
        }
        Ok(SpinRoute {
            raw: raw.to_owned(),
            segments,
            wildcard,
        })
    }

    /// The route as written.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The names of its `:name` segments, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// What `path` holds beyond the route, if the route matches it.
    pub fn captures<'a>(&'a self, path: &'a str) -> Option<Captures<'a>> {
        let mut params = Vec::new();
        let path_info = self.walk(path, |name, value| params.push((name, value)))?;
        Some(Captures { params, path_info })
    }

    /// Its segments, for the router's index of Spin routes.
    pub(super) fn segment_refs(&self) -> impl Iterator<Item = SegmentRef<'_>> {
        self.segments.iter().map(|segment| match segment {
            Segment::Literal(literal) => SegmentRef::Literal(literal),
            Segment::Param(_) => SegmentRef::Param,
        })
    }

    /// Whether it ends with `/...`.
    pub(super) fn has_wildcard(&self) -> bool {
        self.wildcard
    }

    /// Whether the route matches `path`; [`SpinRoute::captures`] without
    /// collecting anything, for routing.
    pub fn matches(&self, path: &str) -> bool {
        self.walk(path, |_, _| {}).is_some()
    }

    /// Matches `path` segment by segment, handing each `:name` and its value
    /// to `param`; the path info if the route matches.
    fn walk<'a>(
        &'a self,
        path: &'a str,
        mut param: impl FnMut(&'a str, &'a str),
    ) -> Option<&'a str> {
        let mut rest = path.strip_prefix('/')?;
        // Where in `path` the part the segments matched ends.
        let mut end = 0;
        for segment in &self.segments {
            let (part, after) = rest.split_once('/').unwrap_or((rest, ""));
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Param(name) if !part.is_empty() => param(name.as_str(), part),
                _ => return None,
            }
            end = path.len() - rest.len() + part.len();
            rest = after;
        }
        let tail = &path[end..];
        match (self.wildcard, tail) {
            (true, _) => Some(tail),
            (false, "" | "/") => Some(""),
            (false, _) => None,
        }
    }

    pub(super) fn shape(&self) -> String {
        let mut shape = String::new();
        for segment in &self.segments {
            shape.push('/');
            match segment {
                Segment::Literal(literal) => shape.push_str(literal),
                Segment::Param(_) => shape.push(':'),
            }
        }
        match (self.wildcard, shape.is_empty()) {
            (true, _) => shape.push_str(PREFIX_SUFFIX),
            (false, true) => shape.push('/'),
            (false, false) => {}
        }
        shape
    }

    pub(super) fn specificity(&self) -> Specificity {
        let mut kinds: Vec<Kind> = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(_) => Kind::Literal,
                Segment::Param(_) => Kind::Param,
            })
            .collect();
        kinds.push(if self.wildcard {
            Kind::Wildcard
        } else {
            Kind::End
        });
        Specificity(kinds)
    }
}

/// A route's segments by kind, ending in [`Kind::End`] or [`Kind::Wildcard`];
/// compared segment by segment, the greater is the more specific.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Specificity(Vec<Kind>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    Wildcard,
    End,
    Param,
    Literal,
}

impl Specificity {
    pub(super) fn of_literal(path: &str, last: Kind) -> Specificity {
        let path = path.trim_start_matches('/');
        let segments = if path.is_empty() {
            0
        } else {
            path.split('/').count()
        };
        let mut kinds = vec![Kind::Literal; segments];
        kinds.push(last);
        Specificity(kinds)
    }
}
