//! A skill's DAG as SVG: layered top to bottom (a node sits one layer below its deepest
//! dependency), each layer ordered by barycenter sweeps to reduce crossings, wide layers
//! wrapped onto several rows so a 1,000-node skill keeps a bounded width.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;

use super::{DEFAULT_STATE, Esc, cut, state_class};

/// One node of a skill as the DAG drawing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagNode {
    pub id: String,
    /// The node kind (`http`, `template`, …), shown under the id.
    pub kind: String,
    /// Ids of the nodes this one runs after.
    pub deps: Vec<String>,
}

/// Box size and the gaps around boxes, in SVG user units (pixels at scale 1).
const NODE_W: i64 = 160;
const NODE_H: i64 = 44;
const COL_GAP: i64 = 32;
const SLOT_W: i64 = NODE_W + COL_GAP;
/// The vertical gap between the rows of one wrapped layer: small, they are one layer.
const ROW_GAP: i64 = 14;
/// The vertical gap between layers, where the edges bend.
const LAYER_GAP: i64 = 56;
const MARGIN: i64 = 16;
/// Wider layers wrap: the drawing is at most this many boxes wide and grows in height.
const MAX_COLS: usize = 12;
/// Barycenter sweeps: down, up, down, up, down. Ending on a down sweep leaves every layer
/// ordered after its dependencies, which is how the graph is read.
const SWEEPS: usize = 5;
/// Label widths in units of an average character (12 px id, 10 px kind, 8 px padding).
const ID_CHARS: usize = ((NODE_W - 16) / 7) as usize;
const KIND_CHARS: usize = ((NODE_W - 16) / 6) as usize;

/// Draws `nodes` as a complete `<svg class="dag">`. `states` gives a node's current state
/// by id (`pending` when it returns `None`). Deps naming no node are ignored, as are
/// later nodes reusing an id (the caller passes a validated skill); a cycle is drawn with
/// its closing edges marked `back` and ignored by the layout.
pub fn dag<'s>(nodes: &[DagNode], states: &dyn Fn(&str) -> Option<&'s str>) -> String {
    let layout = layout(nodes);
    let mut out = String::with_capacity(256 + layout.nodes.len() * 420 + layout.edge_count() * 120);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
         class=\"dag\" role=\"img\" aria-label=\"DAG of {n} nodes in {l} layers\">",
        w = layout.width,
        h = layout.height,
        n = layout.nodes.len(),
        l = layout.layers.len(),
    );
    if layout.nodes.is_empty() {
        let _ = write!(out, "<text x=\"{MARGIN}\" y=\"{}\">no nodes</text></svg>", MARGIN + 12);
        return out;
    }
    // Edges first, so boxes cover their ends and any edge passing behind a wrapped row.
    out.push_str(
        "<defs><marker id=\"dag-arrow\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"8\" \
         markerHeight=\"8\" orient=\"auto\"><path d=\"M0 0 L8 4 L0 8 z\" fill=\"#9aa0a6\"/></marker></defs>\
         <g class=\"dag-edges\" fill=\"none\" stroke=\"#9aa0a6\" marker-end=\"url(#dag-arrow)\">",
    );
    for (to, deps) in layout.deps.iter().enumerate() {
        for &from in deps {
            edge(&mut out, &layout, from, to, false);
        }
    }
    for &(from, to) in &layout.back {
        edge(&mut out, &layout, from, to, true);
    }
    out.push_str("</g><g class=\"dag-nodes\" font-size=\"12\" text-anchor=\"middle\" fill=\"#202124\">");
    for (v, node) in layout.nodes.iter().enumerate() {
        let (x, y) = layout.pos[v];
        let id = Esc(&node.id);
        let state = state_class(states(&node.id).unwrap_or(DEFAULT_STATE));
        let _ = write!(
            out,
            "<g id=\"node-{id}\" class=\"node state-{state}\" data-node=\"{id}\"><title>{id} ({kind})</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\" fill=\"#fff\" stroke=\"#80868b\"/>\
             <text x=\"{cx}\" y=\"{ty}\">{label}</text>\
             <text class=\"kind\" x=\"{cx}\" y=\"{ky}\" font-size=\"10\">{kind_label}</text></g>",
            kind = Esc(&node.kind),
            cx = x + NODE_W / 2,
            ty = y + 19,
            ky = y + 34,
            label = Esc(&cut(&node.id, ID_CHARS)),
            kind_label = Esc(&cut(&node.kind, KIND_CHARS)),
        );
    }
    out.push_str("</g></svg>");
    out
}

/// A cubic edge from the bottom middle of `from` to the top middle of `to`. A back edge
/// (closing a cycle) points upwards; its control points bulge out so it stays visible.
fn edge(out: &mut String, layout: &Layout<'_>, from: usize, to: usize, back: bool) {
    let (fx, fy) = layout.pos[from];
    let (tx, ty) = layout.pos[to];
    let (x1, y1, x2, y2) = (fx + NODE_W / 2, fy + NODE_H, tx + NODE_W / 2, ty);
    let bend = if y2 > y1 { (y2 - y1) / 2 } else { LAYER_GAP };
    let _ = write!(
        out,
        "<path class=\"edge{}\" data-from=\"{}\" data-to=\"{}\" d=\"M{x1} {y1} C{x1} {} {x2} {} {x2} {y2}\"/>",
        if back { " back" } else { "" },
        Esc(&layout.nodes[from].id),
        Esc(&layout.nodes[to].id),
        y1 + bend,
        y2 - bend,
    );
}

/// Where every node goes. Indices are positions in `nodes` (input order, duplicates gone).
pub(crate) struct Layout<'a> {
    pub(crate) nodes: Vec<&'a DagNode>,
    /// Resolved deps that the layout follows (forward edges), per node.
    pub(crate) deps: Vec<Vec<usize>>,
    /// Edges `(dep, node)` that close a cycle, left out of the layering.
    pub(crate) back: Vec<(usize, usize)>,
    /// Node indices of each layer (a node's layer is the longest path to it from a root), left to right (column by column when wrapped).
    pub(crate) layers: Vec<Vec<usize>>,
    /// Top-left corner of each node's box.
    pub(crate) pos: Vec<(i64, i64)>,
    pub(crate) width: i64,
    pub(crate) height: i64,
}

impl Layout<'_> {
    fn edge_count(&self) -> usize {
        self.deps.iter().map(Vec::len).sum::<usize>() + self.back.len()
    }
}

/// How a layer of `len` nodes wraps: `(rows, columns)`, at most [`MAX_COLS`] columns.
fn grid(len: usize) -> (usize, usize) {
    let rows = len.div_ceil(MAX_COLS).max(1);
    (rows, len.div_ceil(rows).max(1))
}

pub(crate) fn layout(input: &[DagNode]) -> Layout<'_> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(input.len());
    let mut nodes = Vec::with_capacity(input.len());
    for node in input {
        if let Entry::Vacant(slot) = index.entry(node.id.as_str()) {
            slot.insert(nodes.len());
            nodes.push(node);
        }
    }
    let n = nodes.len();
    let resolved: Vec<Vec<usize>> = nodes
        .iter()
        .enumerate()
        .map(|(v, node)| {
            let mut deps: Vec<usize> = Vec::with_capacity(node.deps.len());
            for dep in &node.deps {
                match index.get(dep.as_str()) {
                    Some(&d) if d != v && !deps.contains(&d) => deps.push(d),
                    _ => {}
                }
            }
            deps
        })
        .collect();
    let Layering { forward: deps, back, layer } = layering(&resolved);

    let depth = layer.iter().max().map_or(0, |&l| l + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for v in 0..n {
        layers[layer[v]].push(v);
    }
    for members in &mut layers {
        members.sort_by(|&a, &b| nodes[a].id.cmp(&nodes[b].id));
    }
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (v, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(v);
        }
    }

    let cols = layers.iter().map(|l| grid(l.len()).1).max().unwrap_or(1);
    let width = 2 * MARGIN + cols as i64 * SLOT_W - COL_GAP;
    let mut pos = vec![(0, 0); n];
    let mut tops = Vec::with_capacity(depth);
    let mut y = MARGIN;
    for members in &layers {
        tops.push(y);
        place(members, cols, y, &mut pos);
        y += grid(members.len()).0 as i64 * (NODE_H + ROW_GAP) - ROW_GAP + LAYER_GAP;
    }
    let height = if n == 0 { 2 * MARGIN + 16 } else { y - LAYER_GAP + MARGIN };

    for sweep in 0..SWEEPS {
        let down = sweep % 2 == 0;
        let order: Vec<usize> = if down { (1..depth).collect() } else { (0..depth.saturating_sub(1)).rev().collect() };
        for l in order {
            let neighbours = if down { &deps } else { &dependents };
            let mut keyed: Vec<(f64, usize)> = layers[l]
                .iter()
                .map(|&v| {
                    let around = &neighbours[v];
                    let centre = if around.is_empty() {
                        pos[v].0 as f64
                    } else {
                        around.iter().map(|&u| pos[u].0 as f64).sum::<f64>() / around.len() as f64
                    };
                    (centre, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| nodes[a.1].id.cmp(&nodes[b.1].id)));
            layers[l] = keyed.into_iter().map(|(_, v)| v).collect();
            place(&layers[l], cols, tops[l], &mut pos);
        }
    }
    Layout { nodes, deps, back, layers, pos, width, height }
}

/// Puts the nodes of one layer at `top`, centred in a drawing `cols` boxes wide. A wrapped
/// layer fills column by column, so left-to-right order still follows the barycenters.
fn place(members: &[usize], cols: usize, top: i64, pos: &mut [(i64, i64)]) {
    let (rows, used) = grid(members.len());
    let left = MARGIN + (cols - used) as i64 * SLOT_W / 2;
    for (i, &v) in members.iter().enumerate() {
        let (col, row) = ((i / rows) as i64, (i % rows) as i64);
        pos[v] = (left + col * SLOT_W, top + row * (NODE_H + ROW_GAP));
    }
}

/// Splits `deps` into forward edges and back edges (a dep that is an ancestor on the
/// depth-first path, which closes a cycle), and gives each node its layer: 0 for a node
/// without forward deps, else one more than its deepest dep. Iterative, so a 10,000-node
/// chain cannot overflow the stack, and every edge is looked at once, so a cycle ends.
fn layering(deps: &[Vec<usize>]) -> Layering {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let n = deps.len();
    let mut mark = vec![Mark::New; n];
    let mut forward: Vec<Vec<usize>> = deps.iter().map(|d| Vec::with_capacity(d.len())).collect();
    let mut back = Vec::new();
    let mut layer = vec![0; n];
    let mut path: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        mark[root] = Mark::OnPath;
        path.push((root, 0));
        while let Some((v, next)) = path.last_mut() {
            let v = *v;
            if let Some(&d) = deps[v].get(*next) {
                *next += 1;
                match mark[d] {
                    Mark::OnPath => back.push((d, v)),
                    Mark::Done => forward[v].push(d),
                    Mark::New => {
                        forward[v].push(d);
                        mark[d] = Mark::OnPath;
                        path.push((d, 0));
                    }
                }
            } else {
                layer[v] = forward[v].iter().map(|&d| layer[d] + 1).max().unwrap_or(0);
                mark[v] = Mark::Done;
                path.pop();
            }
        }
    }
    Layering { forward, back, layer }
}

/// What [`layering`] finds: forward deps per node, back edges `(dep, node)`, layer per node.
struct Layering {
    forward: Vec<Vec<usize>>,
    back: Vec<(usize, usize)>,
    layer: Vec<usize>,
}
