//! Validation of `[[vnet.pipe]]` and `[[vnet.queue]]` into the shaper's own
//! configuration types. Values with dummynet syntax (`mask`, `red`, `queue` in
//! bytes) go through the shaper's parsers; their errors point at the column inside
//! the string.

use std::collections::HashMap;
use std::ops::Range;

use shaper::{FqCodelConfig, PipeConfig, QueueConfig, QueueLimit, SchedulerConfig};
use toml::Spanned;

use super::location::Location;
use super::raw::{RawPipe, RawQueue, Value};
use super::validate::{describe, Checker};

/// What both pipes and queues accept (the flowset part).
struct Flowset<'r> {
    plr: &'r Option<Value>,
    queue: &'r Option<Value>,
    red: &'r Option<Value>,
    gred: &'r Option<Value>,
    mask: &'r Option<Value>,
    buckets: &'r Option<Value>,
    max_flows: &'r Option<Value>,
}

#[derive(Default)]
struct FlowsetOut {
    plr: Option<f64>,
    queue: Option<QueueLimit>,
    red: Option<shaper::RedConfig>,
    mask: Option<shaper::FlowMask>,
    buckets: Option<u32>,
    max_flows: Option<u32>,
}

impl Checker<'_> {
    pub(crate) fn pipes(&mut self, raw: &[Spanned<RawPipe>], ctx: &str) -> Vec<PipeConfig> {
        let mut ids: HashMap<u32, Location> = HashMap::new();
        raw.iter()
            .enumerate()
            .filter_map(|(i, rp)| self.pipe(rp, i, ctx, &mut ids))
            .collect()
    }

    pub(crate) fn queues(
        &mut self,
        raw: &[Spanned<RawQueue>],
        ctx: &str,
        pipes: &[PipeConfig],
        pipes_complete: bool,
    ) -> Vec<QueueConfig> {
        let mut ids: HashMap<u32, Location> = HashMap::new();
        raw.iter()
            .enumerate()
            .filter_map(|(i, rq)| self.queue(rq, i, ctx, &mut ids, pipes, pipes_complete))
            .collect()
    }

    /// `id` of a pipe or queue: required, 1..=65535, unique in the vnet.
    fn shaper_id(
        &mut self,
        v: &Option<Value>,
        table: &Range<usize>,
        kind: &str,
        index: usize,
        ctx: &str,
        ids: &mut HashMap<u32, Location>,
    ) -> (Option<u32>, String) {
        let numbered = format!("{ctx} {kind} #{}", index + 1);
        let what = format!("a {kind} number 1..=65535");
        let id = self
            .required(v, table, &numbered, "id", &what)
            .and_then(|v| {
                self.int_in(v, &numbered, "id", 1, 65535, &what)
                    .map(|n| (v, n as u32))
            });
        let pctx = id.map_or(numbered, |(_, id)| format!("{ctx} {kind} {id}"));
        if let Some((v, id)) = id {
            if let Some(first) = ids.get(&id) {
                self.error(&v.span(), format!("{pctx} is already defined at {first}"));
            } else {
                ids.insert(id, self.location(&v.span()));
            }
        }
        (id.map(|x| x.1), pctx)
    }

    fn pipe(
        &mut self,
        rp: &Spanned<RawPipe>,
        index: usize,
        ctx: &str,
        ids: &mut HashMap<u32, Location>,
    ) -> Option<PipeConfig> {
        let table = rp.span();
        let rp = rp.get_ref();
        let (id, pctx) = self.shaper_id(&rp.id, &table, "pipe", index, ctx, ids);
        let mut p = PipeConfig::new(id.unwrap_or(0));
        if let Some(v) = &rp.bw {
            let what =
                "a bandwidth like \"10Mbit/s\" or an integer number of bit/s (0 = unlimited)";
            match self.unit_value(v, &pctx, "bw", what) {
                Some(UnitValue::Text(s)) => match s.parse() {
                    Ok(b) => p.bw = b,
                    Err(e) => self.error(&v.span(), format!("{pctx}: bw: {e}, found \"{s}\"")),
                },
                Some(UnitValue::Number(n)) => p.bw = shaper::Bandwidth::from_bits_per_sec(n),
                None => {}
            }
        }
        if let Some(v) = &rp.delay {
            p.delay = self.delay_value(v, &pctx, "delay").unwrap_or(p.delay);
        }
        if let Some(v) = &rp.burst {
            let what = "a burst in bytes, like 3000 or \"64KBytes\"";
            match self.unit_value(v, &pctx, "burst", what) {
                Some(UnitValue::Text(s)) => match shaper::parse_bytes_text(s) {
                    Some(b) => p.burst = b,
                    None => self.error(
                        &v.span(),
                        format!("{pctx}: burst: expected {what}, found \"{s}\""),
                    ),
                },
                Some(UnitValue::Number(n)) => p.burst = n,
                None => {}
            }
        }
        if let Some(v) = &rp.noerror {
            match v.get_ref() {
                toml::Value::Boolean(b) => p.noerror = *b,
                other => self.error(
                    &v.span(),
                    format!(
                        "{pctx}: noerror: expected true or false, found {}",
                        describe(other)
                    ),
                ),
            }
        }
        let fs = self.flowset(
            &Flowset {
                plr: &rp.plr,
                queue: &rp.queue,
                red: &rp.red,
                gred: &rp.gred,
                mask: &rp.mask,
                buckets: &rp.buckets,
                max_flows: &rp.max_flows,
            },
            &pctx,
        );
        p.plr = fs.plr.unwrap_or(p.plr);
        p.queue = fs.queue.unwrap_or(p.queue);
        p.red = fs.red;
        p.mask = fs.mask.unwrap_or(p.mask);
        p.buckets = fs.buckets.unwrap_or(p.buckets);
        p.max_flows = fs.max_flows.unwrap_or(p.max_flows);
        p.scheduler = self.scheduler(rp, &pctx);
        if let Err(e) = p.validate() {
            self.error(&table, format!("{pctx}: {e}"));
        }
        id.map(|_| p)
    }

    /// `scheduler` and its options (each only where that scheduler takes it).
    fn scheduler(&mut self, rp: &RawPipe, pctx: &str) -> SchedulerConfig {
        let mut s = SchedulerConfig::default();
        if let Some(v) = &rp.scheduler {
            let what =
                "a scheduler: \"fifo\", \"wf2q+\", \"rr\", \"prio\", \"qfq\" or \"fq_codel\"";
            if let Some(name) = self.string(v, pctx, "scheduler", what) {
                match shaper::parse_scheduler_name(name) {
                    Some(x) => s = x,
                    None => self.error(
                        &v.span(),
                        format!("{pctx}: scheduler: expected {what}, found \"{name}\""),
                    ),
                }
            }
        }
        let name = s.name();
        let option = |c: &mut Self, v: &Option<Value>, key: &str, takes: bool| -> bool {
            match v {
                Some(v) if !takes => {
                    c.error(
                        &v.span(),
                        format!("{pctx}: {key}: not an option of the {name} scheduler"),
                    );
                    false
                }
                Some(_) => true,
                None => false,
            }
        };
        let is_drr = matches!(s, SchedulerConfig::Drr { .. });
        let is_qfq = matches!(s, SchedulerConfig::Qfq { .. });
        let is_fq = matches!(s, SchedulerConfig::FqCodel(_));
        let mut fq = match s {
            SchedulerConfig::FqCodel(c) => c,
            _ => FqCodelConfig::default(),
        };
        if option(self, &rp.quantum, "quantum", is_drr || is_fq) {
            let v = rp.quantum.as_ref().expect("checked");
            if let Some(q) = self.int_in(
                v,
                pctx,
                "quantum",
                1,
                1 << 20,
                "a quantum in bytes 1..=1048576",
            ) {
                match &mut s {
                    SchedulerConfig::Drr { quantum } => *quantum = q as u32,
                    _ => fq.quantum = q as u32,
                }
            }
        }
        if option(self, &rp.lmax, "lmax", is_qfq) {
            let v = rp.lmax.as_ref().expect("checked");
            if let Some(l) = self.int_in(
                v,
                pctx,
                "lmax",
                1,
                65_536,
                "a largest packet in bytes 1..=65536",
            ) {
                s = SchedulerConfig::Qfq { lmax: l as u32 };
            }
        }
        if option(self, &rp.target, "target", is_fq) {
            let v = rp.target.as_ref().expect("checked");
            fq.target = self.delay_value(v, pctx, "target").unwrap_or(fq.target);
        }
        if option(self, &rp.interval, "interval", is_fq) {
            let v = rp.interval.as_ref().expect("checked");
            fq.interval = self.delay_value(v, pctx, "interval").unwrap_or(fq.interval);
        }
        if option(self, &rp.limit, "limit", is_fq) {
            let v = rp.limit.as_ref().expect("checked");
            if let Some(l) =
                self.int_in(v, pctx, "limit", 1, 1 << 24, "a packet limit 1..=16777216")
            {
                fq.limit = l as u32;
            }
        }
        if option(self, &rp.flows, "flows", is_fq) {
            let v = rp.flows.as_ref().expect("checked");
            if let Some(f) = self.int_in(
                v,
                pctx,
                "flows",
                1,
                65_536,
                "a number of flow queues 1..=65536",
            ) {
                fq.flows = f as u32;
            }
        }
        if option(self, &rp.ecn, "ecn", is_fq) {
            let v = rp.ecn.as_ref().expect("checked");
            match v.get_ref() {
                toml::Value::Boolean(b) => fq.ecn = *b,
                other => self.error(
                    &v.span(),
                    format!(
                        "{pctx}: ecn: expected true or false, found {}",
                        describe(other)
                    ),
                ),
            }
        }
        if is_fq {
            s = SchedulerConfig::FqCodel(fq);
        }
        s
    }

    fn queue(
        &mut self,
        rq: &Spanned<RawQueue>,
        index: usize,
        ctx: &str,
        ids: &mut HashMap<u32, Location>,
        pipes: &[PipeConfig],
        pipes_complete: bool,
    ) -> Option<QueueConfig> {
        let table = rq.span();
        let rq = rq.get_ref();
        let (id, qctx) = self.shaper_id(&rq.id, &table, "queue", index, ctx, ids);
        let what = "the number of a pipe of this vnet";
        let pipe = self
            .required(&rq.pipe, &table, &qctx, "pipe", what)
            .and_then(|v| {
                self.int_in(v, &qctx, "pipe", 1, 65535, "a pipe number 1..=65535")
                    .map(|n| (v, n as u32))
            });
        if let Some((v, p)) = pipe {
            if pipes_complete && !pipes.iter().any(|x| x.id == p) {
                let known: Vec<String> = pipes.iter().map(|x| x.id.to_string()).collect();
                let known = if known.is_empty() {
                    "none are defined".to_string()
                } else {
                    format!("defined: {}", known.join(", "))
                };
                self.error(
                    &v.span(),
                    format!("{qctx}: pipe: expected {what}, found {p} ({known})"),
                );
            }
        }
        let mut q = QueueConfig::new(id.unwrap_or(0), pipe.map_or(0, |x| x.1));
        if let Some(v) = &rq.weight {
            if let Some(w) = self.int_in(v, &qctx, "weight", 1, 65_536, "a weight 1..=65536") {
                q.weight = w as u32;
            }
        }
        if let Some(v) = &rq.prio {
            if let Some(p) = self.int_in(
                v,
                &qctx,
                "prio",
                0,
                15,
                "a priority 0..=15 (0 is served first)",
            ) {
                q.prio = p as u8;
            }
        }
        let fs = self.flowset(
            &Flowset {
                plr: &rq.plr,
                queue: &rq.queue,
                red: &rq.red,
                gred: &rq.gred,
                mask: &rq.mask,
                buckets: &rq.buckets,
                max_flows: &rq.max_flows,
            },
            &qctx,
        );
        q.plr = fs.plr.unwrap_or(q.plr);
        q.queue = fs.queue.unwrap_or(q.queue);
        q.red = fs.red;
        q.mask = fs.mask.unwrap_or(q.mask);
        q.buckets = fs.buckets.unwrap_or(q.buckets);
        q.max_flows = fs.max_flows.unwrap_or(q.max_flows);
        if let Err(e) = q.validate() {
            self.error(&table, format!("{qctx}: {e}"));
        }
        (id.is_some() && pipe.is_some()).then_some(q)
    }

    fn flowset(&mut self, f: &Flowset<'_>, ctx: &str) -> FlowsetOut {
        let mut out = FlowsetOut::default();
        if let Some(v) = f.plr {
            let x = match v.get_ref() {
                toml::Value::Float(x) => Some(*x),
                toml::Value::Integer(n) => Some(*n as f64),
                _ => None,
            };
            match x {
                Some(x) if (0.0..=1.0).contains(&x) => out.plr = Some(x),
                _ => self.error(
                    &v.span(),
                    format!(
                        "{ctx}: plr: expected a loss probability 0..=1, found {}",
                        describe(v.get_ref())
                    ),
                ),
            }
        }
        if let Some(v) = f.queue {
            let what = "a queue size in slots (50) or bytes (\"100KBytes\")";
            match v.get_ref() {
                toml::Value::Integer(n) if (1..=1 << 24).contains(n) => {
                    out.queue = Some(QueueLimit::Slots(*n as u32))
                }
                toml::Value::String(s) => match shaper::parse_queue_text(s) {
                    Some(q) if !matches!(q, QueueLimit::Slots(0) | QueueLimit::Bytes(0)) => {
                        out.queue = Some(q)
                    }
                    _ => self.error(
                        &v.span(),
                        format!("{ctx}: queue: expected {what}, found \"{s}\""),
                    ),
                },
                other => self.error(
                    &v.span(),
                    format!("{ctx}: queue: expected {what}, found {}", describe(other)),
                ),
            }
        }
        for (key, v, gentle) in [("red", f.red, false), ("gred", f.gred, true)] {
            let Some(v) = v else { continue };
            let what = "RED parameters \"w_q/min_th/max_th/max_p\" like \"0.002/5/15/0.1\"";
            if out.red.is_some() {
                self.error(&v.span(), format!("{ctx}: {key}: only one of red and gred"));
                continue;
            }
            if let Some(s) = self.string(v, ctx, key, what) {
                match shaper::parse_red_text(s, gentle) {
                    Some(r) => out.red = Some(r),
                    None => self.error(
                        &v.span(),
                        format!("{ctx}: {key}: expected {what}, found \"{s}\""),
                    ),
                }
            }
        }
        if let Some(v) = f.mask {
            let what = "a mask like \"src-ip 0xffffff00 dst-port 0xffff\" or \"all\"";
            if let Some(s) = self.string(v, ctx, "mask", what) {
                match shaper::parse_mask_text(s) {
                    Ok(m) => out.mask = Some(m),
                    Err(e) => {
                        // Point at the word inside the string (after the opening quote).
                        let at = v.span().start + e.column;
                        let found = if e.found.is_empty() {
                            "the end of the mask".to_string()
                        } else {
                            format!("\"{}\"", e.found)
                        };
                        self.error(
                            &(at..at),
                            format!("{ctx}: mask: expected {}, found {found}", e.expected),
                        );
                    }
                }
            }
        }
        if let Some(v) = f.buckets {
            if let Some(b) = self.int_in(
                v,
                ctx,
                "buckets",
                1,
                1 << 24,
                "a hash size hint 1..=16777216",
            ) {
                out.buckets = Some(b as u32);
            }
        }
        if let Some(v) = f.max_flows {
            if let Some(b) = self.int_in(
                v,
                ctx,
                "max_flows",
                1,
                1 << 24,
                "a bound on dynamic flows 1..=16777216",
            ) {
                out.max_flows = Some(b as u32);
            }
        }
        out
    }

    fn delay_value(&mut self, v: &Value, ctx: &str, key: &str) -> Option<shaper::Delay> {
        let what = "a delay like \"20ms\" or an integer number of milliseconds";
        match self.unit_value(v, ctx, key, what)? {
            UnitValue::Text(s) => match s.parse() {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(&v.span(), format!("{ctx}: {key}: {e}, found \"{s}\""));
                    None
                }
            },
            UnitValue::Number(n) => Some(shaper::Delay::from_millis(n)),
        }
    }

    /// A string with a unit, or a non-negative integer in the default unit.
    fn unit_value<'v>(
        &mut self,
        v: &'v Value,
        ctx: &str,
        key: &str,
        what: &str,
    ) -> Option<UnitValue<'v>> {
        match v.get_ref() {
            toml::Value::String(s) => Some(UnitValue::Text(s)),
            toml::Value::Integer(n) if *n >= 0 => Some(UnitValue::Number(*n as u64)),
            other => {
                self.error(
                    &v.span(),
                    format!("{ctx}: {key}: expected {what}, found {}", describe(other)),
                );
                None
            }
        }
    }
}

enum UnitValue<'v> {
    Text(&'v str),
    Number(u64),
}
