//! `vnetctl -v NAME ipfw ...`: the vnet's firewall in ipfw(8)'s own words.
//! `show`/`list` print the running rules with counters (and `-d` states);
//! every other command (`add`, `delete`, `flush`, `zero`, `set ...`,
//! `table ...`, `enable|disable one_pass`) is sent as written to
//! POST /v1/vnets/NAME/firewall, which applies it as one transaction. The
//! words are re-joined with spaces, so shell-quoted `'table(T)'` and `{ a or
//! b }` arrive as ipfw would see them. `-f FILE` sends a whole rules file.
use super::{render, usage, Cli, Fail, Res};
use serde_json::{json, Value};

impl Cli {
    pub(super) fn ipfw(&self, base: &str, args: &[&str]) -> Res {
        let path = format!("{base}/firewall");
        // ipfw's flags before the command (-q, -a, -d, ...): list-style flags
        // only matter for show, which prints everything anyway.
        let cmd: Vec<&str> = args
            .iter()
            .copied()
            .skip_while(|a| a.starts_with('-') && *a != "-f")
            .collect();
        match cmd.as_slice() {
            [] => Err(usage(
                "ipfw needs a command (add, delete, show, flush, table, set, zero)",
            )),
            ["show" | "list" | "l", ..] => {
                let v = self.call("GET", &path, None)?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                } else {
                    print!("{}", v["show"].as_str().unwrap_or(""));
                }
                Ok(())
            }
            ["flush"] => self.ipfw_send("DELETE", &path, None),
            ["-f", file] => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| Fail::Other(format!("{file}: {e}")))?;
                self.ipfw_send("POST", &path, Some(json!({ "commands": text })))
            }
            words => self.ipfw_send("POST", &path, Some(json!({ "commands": words.join(" ") }))),
        }
    }

    fn ipfw_send(&self, method: &str, path: &str, body: Option<Value>) -> Res {
        let v = self.call(method, path, body)?;
        if self.json {
            println!("{v}");
            return Ok(());
        }
        if let Some(out) = v["output"].as_str() {
            print!("{out}");
        }
        if v.get("added").is_some() || v.get("changed").is_some() {
            render::applied(&v);
        }
        Ok(())
    }
}
