//! The config as a TOML document that API calls edit. Serialised, it is a
//! valid config file (`vnetctl config dump`), and it is re-validated in full
//! by the config loader after every edit.
use crate::config::{parse_route_key, RouteKey};
use std::cell::OnceCell;
use std::collections::HashSet;
use toml::{Table, Value};

#[derive(Debug, Clone)]
pub struct Document {
    /// The file's text until the table is first needed: a reload pays for the
    /// validation only, the first API edit or dump after it for this parse.
    text: Option<String>,
    root: OnceCell<Table>,
}

impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.root() == other.root()
    }
}

impl Document {
    pub fn parse(text: &str) -> Result<Document, String> {
        text.parse::<Table>()
            .map(|root| Document {
                text: None,
                root: OnceCell::from(root),
            })
            .map_err(|e| e.to_string())
    }

    /// A document of text that `config::parse_str` accepted (so it is valid
    /// TOML: the same parser read it), parsed when first needed.
    pub fn validated(text: String) -> Document {
        Document {
            text: Some(text),
            root: OnceCell::new(),
        }
    }

    fn root(&self) -> &Table {
        self.root.get_or_init(|| {
            self.text
                .as_deref()
                .unwrap_or("")
                .parse::<Table>()
                .expect("Document::validated is only given text that parsed as TOML")
        })
    }

    fn root_mut(&mut self) -> &mut Table {
        self.root();
        self.text = None;
        self.root.get_mut().expect("initialised just above")
    }

    pub fn to_text(&self) -> String {
        toml::to_string(self.root()).unwrap_or_default()
    }

    fn vnets_mut(&mut self) -> &mut Vec<Value> {
        let v = self
            .root_mut()
            .entry("vnet")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !v.is_array() {
            *v = Value::Array(Vec::new());
        }
        v.as_array_mut().expect("just made an array")
    }

    fn vnet_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.vnets_mut()
            .iter_mut()
            .filter_map(Value::as_table_mut)
            .find(|t| t.get("name").and_then(Value::as_str) == Some(name))
    }

    pub fn has_vnet(&self, name: &str) -> bool {
        self.root()
            .get("vnet")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|v| v.get("name").and_then(Value::as_str) == Some(name))
            })
    }

    /// Appends a `[[vnet]]` table (its fields as in the config file).
    pub fn add_vnet(&mut self, vnet: Table) {
        self.vnets_mut().push(Value::Table(vnet));
    }

    /// Removes `[[vnet]] name = ...`; false if there was none.
    pub fn remove_vnet(&mut self, name: &str) -> bool {
        let vnets = self.vnets_mut();
        let before = vnets.len();
        vnets.retain(|v| v.get("name").and_then(Value::as_str) != Some(name));
        vnets.len() != before
    }

    /// Appends entries to one of a vnet's arrays of tables (`interface`, `route`, `neighbor`).
    pub fn push_to_vnet(&mut self, vnet: &str, key: &str, items: Vec<Table>) -> Result<(), String> {
        let t = self
            .vnet_mut(vnet)
            .ok_or_else(|| format!("no vnet named {vnet:?}"))?;
        let arr = t.entry(key).or_insert_with(|| Value::Array(Vec::new()));
        let arr = arr
            .as_array_mut()
            .ok_or_else(|| format!("vnet {vnet:?}: {key} is not an array"))?;
        arr.extend(items.into_iter().map(Value::Table));
        Ok(())
    }

    /// Sets `key` in one of a vnet's tables (`[vnet.firewall]`), creating the
    /// table when missing.
    pub fn set_in_vnet_table(
        &mut self,
        vnet: &str,
        table: &str,
        key: &str,
        value: Value,
    ) -> Result<(), String> {
        let t = self
            .vnet_mut(vnet)
            .ok_or_else(|| format!("no vnet named {vnet:?}"))?;
        let sub = t.entry(table).or_insert_with(|| Value::Table(Table::new()));
        let sub = sub
            .as_table_mut()
            .ok_or_else(|| format!("vnet {vnet:?}: {table} is not a table"))?;
        sub.insert(key.to_string(), value);
        Ok(())
    }

    /// The prefixes of a vnet's `[[vnet.route]]` entries (not its routes_file's).
    pub fn route_keys(&self, vnet: &str) -> HashSet<RouteKey> {
        self.routes(vnet)
            .filter_map(|(p, _)| parse_route_key(p).ok())
            .collect()
    }

    fn routes<'a>(&'a self, vnet: &'a str) -> impl Iterator<Item = (&'a str, &'a Table)> + 'a {
        self.root()
            .get("vnet")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(move |v| v.get("name").and_then(Value::as_str) == Some(vnet))
            .filter_map(|v| v.get("route").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_table)
            .filter_map(|t| Some((t.get("prefix")?.as_str()?, t)))
    }

    /// Removes a vnet's `[[vnet.route]]` entries whose prefix is in `keys`; returns how many.
    pub fn remove_routes(&mut self, vnet: &str, keys: &HashSet<RouteKey>) -> usize {
        let Some(t) = self.vnet_mut(vnet) else {
            return 0;
        };
        let Some(arr) = t.get_mut("route").and_then(Value::as_array_mut) else {
            return 0;
        };
        let before = arr.len();
        arr.retain(|e| {
            e.get("prefix")
                .and_then(Value::as_str)
                .and_then(|p| parse_route_key(p).ok())
                .is_none_or(|k| !keys.contains(&k))
        });
        let removed = before - arr.len();
        if arr.is_empty() {
            t.remove("route");
        }
        removed
    }

    /// A vnet's entries of one array (`pipe`, `queue`, ...); None if no such vnet.
    pub fn vnet_items(&self, vnet: &str, key: &str) -> Option<Vec<Table>> {
        let v = self
            .root()
            .get("vnet")?
            .as_array()?
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(vnet))?;
        Some(
            v.get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_table)
                .cloned()
                .collect(),
        )
    }

    /// Removes a vnet's entries of `key` whose `id` is `id`; returns how many.
    pub fn remove_numbered(&mut self, vnet: &str, key: &str, id: i64) -> Result<usize, String> {
        let t = self
            .vnet_mut(vnet)
            .ok_or_else(|| format!("no vnet named {vnet:?}"))?;
        let Some(arr) = t.get_mut(key).and_then(Value::as_array_mut) else {
            return Ok(0);
        };
        let before = arr.len();
        arr.retain(|e| e.get("id").and_then(Value::as_integer) != Some(id));
        let removed = before - arr.len();
        if arr.is_empty() {
            t.remove(key);
        }
        Ok(removed)
    }

    /// Removes and returns the entry of a vnet's array whose `field` equals `value`.
    pub fn take_from_vnet(
        &mut self,
        vnet: &str,
        key: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<Table>, String> {
        let t = self
            .vnet_mut(vnet)
            .ok_or_else(|| format!("no vnet named {vnet:?}"))?;
        let Some(arr) = t.get_mut(key).and_then(Value::as_array_mut) else {
            return Ok(None);
        };
        let Some(i) = arr
            .iter()
            .position(|e| e.get(field).and_then(Value::as_str) == Some(value))
        else {
            return Ok(None);
        };
        let taken = arr.remove(i);
        if arr.is_empty() {
            t.remove(key);
        }
        Ok(match taken {
            Value::Table(t) => Some(t),
            _ => None,
        })
    }

    /// The entry of a vnet's array whose `field` equals `value`, to edit in place.
    pub fn vnet_item_mut(
        &mut self,
        vnet: &str,
        key: &str,
        field: &str,
        value: &str,
    ) -> Option<&mut Table> {
        self.vnet_mut(vnet)?
            .get_mut(key)?
            .as_array_mut()?
            .iter_mut()
            .filter_map(Value::as_table_mut)
            .find(|e| e.get(field).and_then(Value::as_str) == Some(value))
    }

    /// Removes the entries of a vnet's array whose `field` equals `value`; returns how many.
    pub fn remove_from_vnet(
        &mut self,
        vnet: &str,
        key: &str,
        field: &str,
        value: &str,
    ) -> Result<usize, String> {
        let t = self
            .vnet_mut(vnet)
            .ok_or_else(|| format!("no vnet named {vnet:?}"))?;
        let Some(arr) = t.get_mut(key).and_then(Value::as_array_mut) else {
            return Ok(0);
        };
        let before = arr.len();
        arr.retain(|e| e.get(field).and_then(Value::as_str) != Some(value));
        let removed = before - arr.len();
        if arr.is_empty() {
            t.remove(key);
        }
        Ok(removed)
    }
}

/// A JSON object from the API as a TOML table (JSON nulls mean "not given").
pub fn table_from_json(v: &serde_json::Value) -> Result<Table, String> {
    fn strip_nulls(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => serde_json::Value::Object(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), strip_nulls(v)))
                    .collect(),
            ),
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.iter().map(strip_nulls).collect())
            }
            other => other.clone(),
        }
    }
    if !v.is_object() {
        return Err("expected a JSON object".into());
    }
    match Value::try_from(strip_nulls(v)) {
        Ok(Value::Table(t)) => Ok(t),
        Ok(_) => Err("expected a JSON object".into()),
        Err(e) => Err(format!("not representable in the config: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[[port]]
name = "p0"
device = "net_null0"

[[vnet]]
name = "red"
  [[vnet.interface]]
  name = "lan"
  port = "p0"
  vlan = 10
  addresses = ["10.0.1.1/24"]
"#;

    #[test]
    fn edits_round_trip_through_text() {
        let mut d = Document::parse(BASE).unwrap();
        assert!(d.has_vnet("red") && !d.has_vnet("blue"));
        let blue =
            table_from_json(&serde_json::json!({"name": "blue", "routes_file": null})).unwrap();
        assert!(!blue.contains_key("routes_file"));
        d.add_vnet(blue);
        let route =
            table_from_json(&serde_json::json!({"prefix": "0.0.0.0/0", "via": "10.0.1.254"}))
                .unwrap();
        d.push_to_vnet("red", "route", vec![route]).unwrap();
        assert!(d.push_to_vnet("green", "route", vec![]).is_err());
        let again = Document::parse(&d.to_text()).unwrap();
        assert_eq!(again, d);
        assert_eq!(
            d.remove_from_vnet("red", "route", "prefix", "0.0.0.0/0")
                .unwrap(),
            1
        );
        assert!(d.remove_vnet("blue"));
        assert!(!d.remove_vnet("blue"));
        assert_eq!(d, Document::parse(BASE).unwrap());
    }
}
