//! How long each phase of reading a config takes (what a reload pays before it
//! touches the dataplane): `cargo run --release -p controlplane --example
//! config_phases -- FILE`. Prints the median of 9 runs per phase.
use std::path::Path;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: config_phases FILE");
    let text = std::fs::read_to_string(&path).expect("readable file");
    let (mut parse, mut doc, mut render, mut clone) = (vec![], vec![], vec![], vec![]);
    for _ in 0..9 {
        let t = Instant::now();
        let cfg = controlplane::config::parse_str(&text, Path::new(&path)).expect("valid config");
        parse.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let d = controlplane::state::Document::parse(&text).expect("TOML");
        doc.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let out = d.to_text();
        render.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let c2 = cfg.clone();
        clone.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(c2.vnets.len(), cfg.vnets.len());
        assert!(!out.is_empty());
    }
    println!(
        "{path}: {} lines; median ms: validate {:.1}, document parse {:.1}, document render {:.1}, config clone {:.2}",
        text.lines().count(),
        median(parse),
        median(doc),
        median(render),
        median(clone)
    );
}
