//! The skill's DAG as a petgraph graph: one vertex per node, one edge per dependency
//! (from the node that must finish first to the node that waits for it).
//!
//! Built by the validator from `needs:` and template references; used by `skill show`
//! (execution order), `skill graph` (layers) and, later, the scheduler.

use indexmap::IndexMap;
use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use syntax::source::Span;

/// Why an edge exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// Listed in `needs:`.
    Needs,
    /// A `nodes.<id>` reference in a template or `if:`.
    Reference,
}

/// One dependency: `to` waits for `from`.
#[derive(Debug, Clone)]
pub struct Edge {
    pub kind: EdgeKind,
    /// Where the dependency is written.
    pub span: Span,
}

/// The dependency graph of a skill.
#[derive(Debug, Clone, Default)]
pub struct SkillGraph {
    pub graph: DiGraph<String, Edge>,
    /// Node ids in file order, to their vertex.
    pub index: IndexMap<String, NodeIndex>,
}

impl SkillGraph {
    /// A graph with one vertex per id and no edges yet.
    pub fn with_nodes<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut g = SkillGraph::default();
        for id in ids {
            let ix = g.graph.add_node(id.to_string());
            g.index.insert(id.to_string(), ix);
        }
        g
    }

    /// Records that `dependent` waits for `dependency`. Repeated pairs keep the first.
    pub fn add_dependency(&mut self, dependency: &str, dependent: &str, edge: Edge) {
        let (Some(&from), Some(&to)) = (self.index.get(dependency), self.index.get(dependent)) else {
            return;
        };
        if self.graph.find_edge(from, to).is_none() {
            self.graph.add_edge(from, to, edge);
        }
    }

    /// Ids a node depends on, in file order.
    pub fn dependencies(&self, id: &str) -> Vec<&str> {
        let Some(&ix) = self.index.get(id) else { return Vec::new() };
        let mut out: Vec<NodeIndex> = self.graph.neighbors_directed(ix, Direction::Incoming).collect();
        out.sort();
        out.into_iter().map(|n| self.graph[n].as_str()).collect()
    }

    /// Every edge as (dependency, dependent, kind), dependents in file order.
    pub fn edges(&self) -> Vec<(&str, &str, EdgeKind)> {
        let mut out = Vec::new();
        for (id, &ix) in &self.index {
            let mut incoming: Vec<_> = self.graph.edges_directed(ix, Direction::Incoming).collect();
            incoming.sort_by_key(|e| e.source());
            for e in incoming {
                out.push((self.graph[e.source()].as_str(), id.as_str(), e.weight().kind));
            }
        }
        out
    }

    /// Every cycle, as the chain of ids in "depends on" order, closed: `[a, b, a]` means
    /// a depends on b and b on a. One chain per strongly connected component.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut cycles = Vec::new();
        for scc in tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.find_edge(scc[0], scc[0]).is_some();
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let start = *scc.iter().min().unwrap_or(&scc[0]);
            cycles.push(self.cycle_from(start, &scc));
        }
        cycles.sort();
        cycles
    }

    /// Walks dependencies inside one strongly connected component back to `start`
    /// (breadth-first, so the chain printed is a shortest one).
    fn cycle_from(&self, start: NodeIndex, scc: &[NodeIndex]) -> Vec<String> {
        use std::collections::{HashMap, VecDeque};
        let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            let mut deps: Vec<NodeIndex> = self.graph.neighbors_directed(n, Direction::Incoming).collect();
            deps.sort();
            for d in deps {
                if !scc.contains(&d) {
                    continue;
                }
                if d == start {
                    let mut chain = vec![start];
                    let mut cur = n;
                    let mut rev = vec![];
                    while cur != start {
                        rev.push(cur);
                        cur = parent[&cur];
                    }
                    rev.reverse();
                    chain.extend(rev);
                    chain.push(start);
                    return chain.into_iter().map(|ix| self.graph[ix].clone()).collect();
                }
                if d != start && !parent.contains_key(&d) {
                    parent.insert(d, n);
                    queue.push_back(d);
                }
            }
        }
        vec![self.graph[start].clone(), self.graph[start].clone()]
    }

    /// The span of the dependency `dependent` → `dependency`, if that edge exists.
    pub fn edge_span(&self, dependent: &str, dependency: &str) -> Option<Span> {
        let from = *self.index.get(dependency)?;
        let to = *self.index.get(dependent)?;
        self.graph.find_edge(from, to).map(|e| self.graph[e].span.clone())
    }

    /// Layers for drawing and execution order: layer 0 has no dependencies, every node
    /// sits one below its deepest dependency. Within a layer, file order. Requires a DAG.
    pub fn layers(&self) -> Vec<Vec<String>> {
        let mut depth: IndexMap<NodeIndex, usize> = IndexMap::new();
        let order = petgraph::algo::toposort(&self.graph, None).unwrap_or_default();
        for n in order {
            let d = self
                .graph
                .neighbors_directed(n, Direction::Incoming)
                .filter_map(|p| depth.get(&p))
                .map(|d| d + 1)
                .max()
                .unwrap_or(0);
            depth.insert(n, d);
        }
        let max = depth.values().copied().max().map_or(0, |m| m + 1);
        let mut layers = vec![Vec::new(); max];
        for (id, &ix) in &self.index {
            if let Some(&d) = depth.get(&ix) {
                layers[d].push(id.clone());
            }
        }
        layers
    }

    /// A deterministic execution order: layer by layer, file order within a layer.
    pub fn execution_order(&self) -> Vec<String> {
        self.layers().into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(ids: &[&str], deps: &[(&str, &str)]) -> SkillGraph {
        let mut g = SkillGraph::with_nodes(ids.iter().copied());
        for (dependent, dependency) in deps {
            g.add_dependency(dependency, dependent, Edge { kind: EdgeKind::Needs, span: 0..0 });
        }
        g
    }

    #[test]
    fn cycles_are_named_in_full() {
        let g = graph(&["a", "b", "c", "d"], &[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]);
        assert_eq!(g.cycles(), vec![vec!["a", "b", "c", "a"]]);
        let selfloop = graph(&["a"], &[("a", "a")]);
        assert_eq!(selfloop.cycles(), vec![vec!["a", "a"]]);
    }

    #[test]
    fn layers_follow_dependencies() {
        let g = graph(&["send", "fetch", "sum", "other"], &[("sum", "fetch"), ("send", "sum")]);
        assert!(g.cycles().is_empty());
        assert_eq!(g.layers(), vec![vec!["fetch", "other"], vec!["sum"], vec!["send"]]);
    }
}
