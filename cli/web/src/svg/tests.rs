//! Tests of the SVG drawings: escaping, layering, ordering, wrapping, cycles, timeline bars,
//! and a structural check (balanced groups, every node group has its id) on every drawing.

use std::collections::HashMap;

use super::dag::layout;
use super::{Bar, DagNode, STATES, css, dag, escape, timeline};

fn node(id: &str, kind: &str, deps: &[&str]) -> DagNode {
    DagNode { id: id.to_owned(), kind: kind.to_owned(), deps: deps.iter().map(|d| (*d).to_owned()).collect() }
}

fn no_states(_: &str) -> Option<&'static str> {
    None
}

fn diamond() -> Vec<DagNode> {
    vec![
        node("d", "template", &["b", "c"]),
        node("c", "http", &["a"]),
        node("b", "exec", &["a"]),
        node("a", "file.read", &[]),
    ]
}

/// Well-formed enough to inline: one root, balanced groups, no script, no inline style,
/// and every node group opens with its own id.
fn check_structure(svg: &str) {
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\""), "{svg}");
    assert!(svg.ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), 1);
    assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count(), "unbalanced groups");
    assert_eq!(svg.matches("<title>").count(), svg.matches("</title>").count());
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert!(!svg.to_ascii_lowercase().contains("<script"));
    assert!(!svg.contains("style="));
    assert!(!svg.contains("<g class=\"node"), "a node group without a leading id");
    assert_eq!(svg.matches("class=\"node ").count(), svg.matches("<g id=\"node-").count());
    for (at, _) in svg.match_indices("<g id=\"node-") {
        let open = &svg[at..];
        let open = &open[..open.find('>').unwrap_or(open.len())];
        let id = open["<g id=\"node-".len()..].split('"').next().unwrap_or_default();
        assert!(open.contains(&format!("data-node=\"{id}\"")), "id and data-node differ: {open}");
        assert!(open.contains("class=\"node state-"), "{open}");
    }
}

/// The top-left corner of the box of node `id`, read back from the drawing.
fn box_of(svg: &str, id: &str) -> (i64, i64) {
    let at = svg.find(&format!("<g id=\"node-{id}\"")).unwrap_or_else(|| panic!("no node {id}"));
    let rect = &svg[at + svg[at..].find("<rect").unwrap_or(0)..];
    let attr = |name: &str| -> i64 {
        let from = rect.find(&format!(" {name}=\"")).map(|i| i + name.len() + 3).unwrap_or(0);
        rect[from..].split('"').next().unwrap_or_default().parse().unwrap_or(i64::MIN)
    };
    (attr("x"), attr("y"))
}

#[test]
fn escape_covers_markup_quotes_and_controls() {
    assert_eq!(escape("a & b <c> \"d\" 'e'"), "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39;");
    assert_eq!(escape("line\nnext\ttab\r\u{0}\u{7}\u{1b}[31m\u{85}\u{FFFF}"), "line\nnext\ttab[31m");
    assert_eq!(escape("plain ünïcødé …"), "plain ünïcødé …");
    assert_eq!(escape(""), "");
}

#[test]
fn a_hostile_node_id_appears_only_escaped() {
    let evil = "<script>alert(1)</script>";
    let nodes = vec![node(evil, "x\"><script>", &[]), node("b", "exec", &[evil, "\" onload=\"x"])];
    let svg = dag(&nodes, &|id| if id == "b" { Some("failed\" onclick=\"x") } else { None });
    check_structure(&svg);
    assert!(!svg.contains(evil));
    assert!(!svg.contains("onclick=\""));
    assert!(svg.contains("data-node=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
    assert!(svg.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt; (x&quot;&gt;&lt;script&gt;)</title>"));
    assert!(svg.contains("class=\"node state-unknown\""), "a state that is not a plain word becomes `unknown`");
    let bars = [Bar { node: evil.to_owned(), attempt: 1, start: 0, end: Some(5), state: "<b>".to_owned() }];
    let svg = timeline(&bars, 10);
    check_structure(&svg);
    assert!(!svg.contains(evil));
    assert!(svg.contains("class=\"bar state-unknown\""));
}

#[test]
fn a_diamond_has_three_layers_with_the_join_below() {
    let nodes = diamond();
    let layout = layout(&nodes);
    let ids = |l: usize| -> Vec<&str> { layout.layers[l].iter().map(|&v| layout.nodes[v].id.as_str()).collect() };
    assert_eq!(layout.layers.len(), 3);
    assert_eq!(ids(0), ["a"]);
    assert_eq!(ids(1), ["b", "c"], "ties are broken by id");
    assert_eq!(ids(2), ["d"]);

    let svg = dag(&nodes, &no_states);
    check_structure(&svg);
    let (a, b, c, d) = (box_of(&svg, "a"), box_of(&svg, "b"), box_of(&svg, "c"), box_of(&svg, "d"));
    assert!(a.1 < b.1 && b.1 == c.1 && c.1 < d.1, "{a:?} {b:?} {c:?} {d:?}");
    assert!(b.0 < c.0);
    assert_eq!(d.0, (b.0 + c.0) / 2, "the join sits between its deps");
    assert_eq!(svg.matches("<path class=\"edge\"").count(), 4);
    assert!(svg.contains("<path class=\"edge\" data-from=\"a\" data-to=\"b\" d=\"M"));
    assert!(svg.contains("aria-label=\"DAG of 4 nodes in 3 layers\""));
}

#[test]
fn a_layer_is_the_longest_path_from_a_root() {
    // `c` depends on `a` directly and through `b`: it goes below `b`, not beside it.
    let nodes = vec![node("a", "x", &[]), node("b", "x", &["a"]), node("c", "x", &["a", "b"])];
    let layout = layout(&nodes);
    assert_eq!(layout.layers.len(), 3);
    assert_eq!(layout.layers[2], [2]);
}

#[test]
fn barycenters_remove_a_crossing() {
    // Sorted by id alone, layer 1 would read p q r s under a b: every edge would cross.
    let nodes = vec![
        node("a", "x", &[]),
        node("b", "x", &[]),
        node("p", "x", &["b"]),
        node("q", "x", &["a"]),
        node("r", "x", &["b"]),
        node("s", "x", &["a"]),
    ];
    let layout = layout(&nodes);
    let x = |id: &str| layout.pos[layout.nodes.iter().position(|n| n.id == id).unwrap_or(0)].0;
    let (under_a, under_b) = (x("q").max(x("s")), x("p").min(x("r")));
    assert!((x("a") < x("b")) == (under_a < under_b), "children follow their parents' order");
}

#[test]
fn states_become_classes_and_default_to_pending() {
    let nodes = diamond();
    let states: HashMap<String, String> =
        [("a", "succeeded"), ("b", "running"), ("c", "retrying")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    let svg = dag(&nodes, &|id| states.get(id).map(String::as_str));
    assert!(
        svg.contains("<g id=\"node-a\" class=\"node state-succeeded\" data-node=\"a\"><title>a (file.read)</title>")
    );
    assert!(svg.contains("class=\"node state-running\" data-node=\"b\""));
    assert!(svg.contains("class=\"node state-retrying\" data-node=\"c\""));
    assert!(svg.contains("class=\"node state-pending\" data-node=\"d\""));
}

#[test]
fn the_same_input_gives_the_same_drawing() {
    let nodes = many(300, 7);
    let first = dag(&nodes, &no_states);
    assert_eq!(first, dag(&nodes, &no_states));
    assert_eq!(first, dag(&nodes.clone(), &no_states));
    check_structure(&first);
    assert_eq!(first.matches("<g id=\"node-").count(), 300);
    let bars = bars_for(&nodes);
    assert_eq!(timeline(&bars, 9_999_999), timeline(&bars, 9_999_999));
}

#[test]
fn a_cycle_terminates_and_every_node_is_drawn() {
    let nodes =
        vec![node("a", "x", &["c"]), node("b", "x", &["a"]), node("c", "x", &["b"]), node("d", "x", &["d", "c"])];
    let svg = dag(&nodes, &no_states);
    check_structure(&svg);
    assert_eq!(svg.matches("<g id=\"node-").count(), 4);
    assert_eq!(svg.matches("class=\"edge back\"").count(), 1, "one edge closes the cycle; a self-dep is dropped");
    // Depth first from `a`: a → c → b → a closes the cycle, so b, c, a stack up and d joins a.
    let layout = layout(&nodes);
    let ids: Vec<Vec<&str>> =
        layout.layers.iter().map(|l| l.iter().map(|&v| layout.nodes[v].id.as_str()).collect()).collect();
    assert_eq!(ids, [vec!["b"], vec!["c"], vec!["a", "d"]]);
}

#[test]
fn a_long_chain_does_not_overflow_the_stack() {
    let chain: Vec<DagNode> =
        (0..20_000).map(|i| node(&format!("s{i}"), "x", &[&format!("s{}", i.max(1) - 1)])).collect();
    assert_eq!(layout(&chain).layers.len(), 20_000);
}

#[test]
fn unknown_deps_and_duplicate_ids_are_ignored() {
    let nodes = vec![node("a", "x", &["ghost"]), node("a", "y", &[]), node("b", "x", &["a", "a", "nope"])];
    let svg = dag(&nodes, &no_states);
    check_structure(&svg);
    assert_eq!(svg.matches("<g id=\"node-a\"").count(), 1);
    assert_eq!(svg.matches("<path class=\"edge\"").count(), 1);
    assert!(!svg.contains("ghost"));
}

#[test]
fn long_ids_are_cut_but_kept_whole_in_title_and_data() {
    let long = "fetch_the_weather_forecast_for_every_city_in_the_list";
    let svg = dag(&[node(long, "http", &[])], &no_states);
    check_structure(&svg);
    assert!(svg.contains(&format!("data-node=\"{long}\"")));
    assert!(svg.contains(&format!("<title>{long} (http)</title>")));
    assert!(svg.contains(">fetch_the_weather_f…</text>"), "{svg}");
    let wide = "天気予報を全部の都市について取得する";
    let svg = dag(&[node(wide, "http", &[])], &no_states);
    assert!(svg.contains(">天気予報を全部の都…</text>"), "{svg}");
}

#[test]
fn a_hundred_wide_layer_wraps_into_rows() {
    let mut nodes = vec![node("root", "x", &[])];
    nodes.extend((0..100).map(|i| node(&format!("n{i:03}"), "x", &["root"])));
    nodes.push(node("end", "x", &["n000", "n099"]));
    let layout = layout(&nodes);
    assert_eq!(layout.layers.len(), 3);
    let middle = &layout.layers[1];
    let xs: std::collections::BTreeSet<i64> = middle.iter().map(|&v| layout.pos[v].0).collect();
    let ys: std::collections::BTreeSet<i64> = middle.iter().map(|&v| layout.pos[v].1).collect();
    assert!(xs.len() <= 12, "{} columns", xs.len());
    assert!(ys.len() >= 9, "{} rows", ys.len());
    let svg = dag(&nodes, &no_states);
    check_structure(&svg);
    let narrow = dag(&nodes[..13], &no_states);
    let size = |svg: &str, attr: &str| -> i64 {
        let from = svg.find(&format!(" {attr}=\"")).map_or(0, |i| i + attr.len() + 3);
        svg[from..].split('"').next().unwrap_or_default().parse().unwrap_or(0)
    };
    assert!(size(&svg, "width") <= 12 * 192 + 32, "width is capped");
    assert_eq!(size(&svg, "width"), size(&narrow, "width"), "12 of 100 columns as wide as 12 of 12");
    assert!(size(&svg, "height") > 9 * 44, "the height grows instead");
    let (_, root_y) = box_of(&svg, "root");
    let (_, end_y) = box_of(&svg, "end");
    assert!(ys.iter().all(|&y| root_y < y && y < end_y));
}

#[test]
fn no_nodes_gives_a_small_drawing() {
    let svg = dag(&[], &no_states);
    check_structure(&svg);
    assert!(svg.contains("no nodes"));
}

fn bar(node: &str, attempt: u32, start: i64, end: Option<i64>, state: &str) -> Bar {
    Bar { node: node.to_owned(), attempt, start, end, state: state.to_owned() }
}

fn row_y(svg: &str, node: &str, attempt: u32) -> i64 {
    let key = format!("data-node=\"{node}\" data-attempt=\"{attempt}\"");
    let at = svg.find(&key).unwrap_or_else(|| panic!("no bar {key}"));
    let from = at + svg[at..].find(" y=\"").unwrap_or(0) + 4;
    svg[from..].split('"').next().unwrap_or_default().parse().unwrap_or(i64::MIN)
}

#[test]
fn a_retry_is_a_second_bar_on_the_same_row() {
    let t = 1_700_000_000_000;
    let bars = [
        bar("fetch", 2, t + 12_000, Some(t + 15_000), "succeeded"),
        bar("first", 1, t, Some(t + 1_000), "succeeded"),
        bar("fetch", 1, t + 2_000, Some(t + 7_000), "failed"),
    ];
    let svg = timeline(&bars, t + 20_000);
    check_structure(&svg);
    assert_eq!(svg.matches("<rect class=\"bar").count(), 3);
    assert_eq!(svg.matches("<g class=\"row\"").count(), 2);
    assert_eq!(row_y(&svg, "fetch", 1), row_y(&svg, "fetch", 2));
    assert!(row_y(&svg, "first", 1) < row_y(&svg, "fetch", 1), "rows follow first starts");
    assert!(svg.contains(&format!(
        "class=\"bar state-failed\" data-node=\"fetch\" data-attempt=\"1\" data-start=\"{}\" data-end=\"{}\"",
        t + 2_000,
        t + 7_000
    )));
    assert!(svg.contains(">#1</text>") && svg.contains(">#2</text>"));
    assert!(svg.contains("<title>fetch · attempt 2 · 3.0 s</title>"));
    // The axis spans the bars (15 s), not `now`: a finished run is not squeezed by later renders.
    assert!(svg.contains(">+0s</text>") && svg.contains(">+5s</text>") && svg.contains(">+15s</text>"));
    assert!(!svg.contains(">+20s</text>") && !svg.contains("class=\"now\""));
}

#[test]
fn an_open_bar_reaches_now() {
    let t = 1_000_000;
    let bars = [bar("done", 1, t, Some(t + 30_000), "succeeded"), bar("wait", 1, t + 30_000, None, "waiting")];
    let now = t + 120_000;
    let svg = timeline(&bars, now);
    check_structure(&svg);
    let at = svg.find("class=\"bar state-waiting open\"").unwrap_or_else(|| panic!("{svg}"));
    let open = &svg[at..at + svg[at..].find('>').unwrap_or(0)];
    assert!(!open.contains("data-end"), "{open}");
    let num = |attr: &str| -> f64 {
        let from = open.find(&format!(" {attr}=\"")).map_or(0, |i| i + attr.len() + 3);
        open[from..].split('"').next().unwrap_or_default().parse().unwrap_or(f64::NAN)
    };
    assert!((num("x") + num("width") - (180.0 + 720.0)).abs() < 0.2, "{open}");
    assert!(svg.contains("<line class=\"now\" x1=\"900.0\""));
    assert!(svg.contains("data-t0=\"1000000\" data-span=\"120000\" data-x0=\"180\" data-width=\"720\""));
    assert!(svg.contains(">+2m</text>"));
    assert!(svg.contains("<title>wait · attempt 1 · 1 m 30 s so far</title>"));
}

#[test]
fn an_empty_timeline_says_so() {
    let svg = timeline(&[], 0);
    check_structure(&svg);
    assert!(svg.contains(">no node has started yet</text>"));
}

#[test]
fn the_stylesheet_colours_every_state() {
    let css = css();
    for state in STATES {
        assert!(css.contains(&format!(".dag .node.state-{} rect{{stroke:{}}}", state.name, state.colour)));
        assert!(css.contains(&format!(".timeline .bar.state-{}{{fill:{}}}", state.name, state.colour)));
    }
}

/// `count` nodes, each depending on 1–3 of the 40 before it (a fixed LCG, so the same
/// graph every run); the first is the only root.
fn many(count: usize, seed: u64) -> Vec<DagNode> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    (0..count)
        .map(|i| {
            let deps = if i == 0 {
                Vec::new()
            } else {
                (0..1 + next() % 3).map(|_| format!("n{}", i - 1 - next() % i.min(40))).collect()
            };
            DagNode { id: format!("n{i}"), kind: "template".to_owned(), deps }
        })
        .collect()
}

fn bars_for(nodes: &[DagNode]) -> Vec<Bar> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| bar(&n.id, 1, i as i64 * 100, Some(i as i64 * 100 + 250), "succeeded"))
        .collect()
}

#[test]
fn a_wait_and_the_rest_of_the_same_attempt_are_not_numbered() {
    let t = 1_700_000_000_000;
    let bars = [bar("ask", 1, t, Some(t + 5_000), "waiting"), bar("ask", 1, t + 5_000, Some(t + 5_010), "succeeded")];
    let svg = timeline(&bars, t + 6_000);
    check_structure(&svg);
    assert_eq!(svg.matches("<rect class=\"bar").count(), 2);
    assert!(!svg.contains(">#1</text>"), "{svg}");
}
