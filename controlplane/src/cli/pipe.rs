//! dummynet's command language for pipes and queues, as ipfw(8) has it:
//! `pipe 1 config bw 10Mbit/s delay 40ms plr 0.01 queue 50 mask src-ip 0xffffff00`,
//! `queue 2 config pipe 1 weight 3`. Turned into the config's `[[vnet.pipe]]` /
//! `[[vnet.queue]]` keys; vnetd validates them as it validates the file.
use serde_json::{Map, Value};

/// Keywords that take no value.
const FLAGS: &[&str] = &["noerror", "ecn", "noecn"];

/// The config key for a dummynet keyword of a pipe or queue.
fn key(kind: &str, word: &str) -> Option<&'static str> {
    let common = match word {
        "plr" => Some("plr"),
        "queue" => Some("queue"),
        "red" => Some("red"),
        "gred" => Some("gred"),
        "mask" => Some("mask"),
        "buckets" => Some("buckets"),
        "max_flows" | "max-flows" => Some("max_flows"),
        _ => None,
    };
    common.or(match (kind, word) {
        ("pipe", "bw" | "bandwidth") => Some("bw"),
        ("pipe", "delay") => Some("delay"),
        ("pipe", "burst") => Some("burst"),
        ("pipe", "noerror") => Some("noerror"),
        ("pipe", "sched" | "scheduler" | "type") => Some("scheduler"),
        ("pipe", "quantum") => Some("quantum"),
        ("pipe", "lmax") => Some("lmax"),
        ("pipe", "target") => Some("target"),
        ("pipe", "interval") => Some("interval"),
        ("pipe", "limit") => Some("limit"),
        ("pipe", "flows") => Some("flows"),
        ("pipe", "ecn" | "noecn") => Some("ecn"),
        ("queue", "pipe") => Some("pipe"),
        ("queue", "weight") => Some("weight"),
        ("queue", "prio" | "priority") => Some("prio"),
        _ => None,
    })
}

/// A number where the word is one, else the word (units stay in the string).
fn value(word: &str) -> Value {
    if let Ok(i) = word.parse::<i64>() {
        return Value::from(i);
    }
    match word.parse::<f64>() {
        Ok(f) if f.is_finite() => Value::from(f),
        _ => Value::from(word),
    }
}

/// `config` arguments (after `pipe N config`) as the API's JSON body.
pub fn config_body(kind: &str, words: &[&str]) -> Result<Value, String> {
    let mut out = Map::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let k = key(kind, w).ok_or_else(|| {
            format!(
                "{kind} config: unknown keyword {w:?} (see vnetctl --help and ipfw(8), DUMMYNET)"
            )
        })?;
        if FLAGS.contains(&w) {
            out.insert(k.into(), Value::Bool(w != "noecn"));
            i += 1;
            continue;
        }
        if k == "mask" {
            // `mask src-ip 0xffffff00 dst-port 0xffff ...`: up to the next keyword.
            let end = words[i + 1..]
                .iter()
                .position(|x| key(kind, x).is_some())
                .map_or(words.len(), |p| i + 1 + p);
            if end == i + 1 {
                return Err(format!(
                    "{kind} config: mask needs fields, e.g. `mask src-ip 0xffffff00`"
                ));
            }
            out.insert(k.into(), Value::from(words[i + 1..end].join(" ")));
            i = end;
            continue;
        }
        let v = words
            .get(i + 1)
            .ok_or_else(|| format!("{kind} config: {w} needs a value"))?;
        out.insert(k.into(), value(v));
        i += 2;
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dummynet_words_become_config_keys() {
        let b = config_body(
            "pipe",
            &[
                "bw",
                "10Mbit/s",
                "delay",
                "40ms",
                "plr",
                "0.01",
                "queue",
                "50",
                "mask",
                "src-ip",
                "0xffffff00",
                "dst-port",
                "0xffff",
                "noerror",
                "sched",
                "fq_codel",
                "ecn",
            ],
        )
        .unwrap();
        assert_eq!(
            b,
            json!({"bw": "10Mbit/s", "delay": "40ms", "plr": 0.01, "queue": 50,
                   "mask": "src-ip 0xffffff00 dst-port 0xffff", "noerror": true,
                   "scheduler": "fq_codel", "ecn": true})
        );
        let q = config_body("queue", &["pipe", "1", "weight", "3", "queue", "100KBytes"]).unwrap();
        assert_eq!(q, json!({"pipe": 1, "weight": 3, "queue": "100KBytes"}));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(config_body("pipe", &["bw"])
            .unwrap_err()
            .contains("bw needs a value"));
        assert!(config_body("pipe", &["weight", "3"])
            .unwrap_err()
            .contains("unknown keyword \"weight\""));
        assert!(config_body("queue", &["bw", "1Mbit/s"])
            .unwrap_err()
            .contains("unknown keyword"));
        assert!(config_body("pipe", &["mask", "bw", "1"])
            .unwrap_err()
            .contains("mask needs fields"));
    }
}
