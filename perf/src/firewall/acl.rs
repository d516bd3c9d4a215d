//! Owner of a DPDK rte_acl context over IPv4 5-tuple rules (the layout of
//! DPDK's own ACL examples: proto, src, dst, both ports in one 4-byte group).
//! EAL must be up first (`crate::lpm::dpdk::init_eal`).

use std::ffi::CString;
use std::ptr::NonNull;

use dpdk_sys as sys;

use super::{Acl, Tuple};

/// The classified bytes of a packet, network byte order, as rte_acl reads them.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Key {
    proto: u8,
    _pad: [u8; 3],
    src: [u8; 4],
    dst: [u8; 4],
    sport: [u8; 2],
    dport: [u8; 2],
}

impl Key {
    pub fn of(t: &Tuple) -> Key {
        Key {
            proto: t.proto,
            _pad: [0; 3],
            src: t.src.to_be_bytes(),
            dst: t.dst.to_be_bytes(),
            sport: t.sport.to_be_bytes(),
            dport: t.dport.to_be_bytes(),
        }
    }
}

const FIELDS: usize = 5;

#[repr(C)]
struct Rule {
    data: sys::rte_acl_rule_data,
    field: [sys::rte_acl_field; FIELDS],
}

fn field(value: u32, mask_range: u32) -> sys::rte_acl_field {
    let mut f = sys::rte_acl_field::default();
    f.value.u32_ = value;
    f.mask_range.u32_ = mask_range;
    f
}

fn field8(value: u8, mask: u8) -> sys::rte_acl_field {
    let mut f = sys::rte_acl_field::default();
    f.value.u8_ = value;
    f.mask_range.u8_ = mask;
    f
}

fn field16(lo: u16, hi: u16) -> sys::rte_acl_field {
    let mut f = sys::rte_acl_field::default();
    f.value.u16_ = lo;
    f.mask_range.u16_ = hi;
    f
}

pub struct AclCtx(NonNull<sys::rte_acl_ctx>);

impl AclCtx {
    /// Builds a context where rule i (first match wins, as in ipfw) has the
    /// highest priority among those before it; userdata = i + 1.
    pub fn build(rules: &[Acl]) -> Result<AclCtx, String> {
        // rte_acl_create hands back an existing context of the same name: unique names.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = CString::new(format!("fwacl{n}")).unwrap();
        let param = sys::rte_acl_param {
            name: name.as_ptr(),
            socket_id: 0,
            rule_size: std::mem::size_of::<Rule>() as u32,
            max_rule_num: rules.len() as u32,
        };
        // SAFETY: param and its name are valid for the call.
        let ctx =
            NonNull::new(unsafe { sys::rte_acl_create(&param) }).ok_or("rte_acl_create failed")?;
        let ctx = AclCtx(ctx);
        let n = rules.len() as i32;
        let rs: Vec<Rule> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| Rule {
                data: sys::rte_acl_rule_data {
                    category_mask: 1,
                    priority: n - i as i32,
                    userdata: i as u32 + 1,
                },
                field: [
                    if r.proto == 0 {
                        field8(0, 0)
                    } else {
                        field8(r.proto, 0xff)
                    },
                    field(r.src.0, r.src.1 as u32),
                    field(r.dst.0, r.dst.1 as u32),
                    field16(r.sport.0, r.sport.1),
                    field16(r.dport.0, r.dport.1),
                ],
            })
            .collect();
        // SAFETY: rs holds rules.len() rules of the size declared in param.
        let rc = unsafe {
            sys::rte_acl_add_rules(
                ctx.0.as_ptr(),
                rs.as_ptr() as *const sys::rte_acl_rule,
                rs.len() as u32,
            )
        };
        if rc != 0 {
            return Err(format!("rte_acl_add_rules: {rc}"));
        }
        let mut cfg = sys::rte_acl_config {
            num_categories: 1,
            num_fields: FIELDS as u32,
            ..Default::default()
        };
        let defs = [
            (sys::RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, 0),
            (sys::RTE_ACL_FIELD_TYPE_MASK, 4, 1, 1, 4),
            (sys::RTE_ACL_FIELD_TYPE_MASK, 4, 2, 2, 8),
            (sys::RTE_ACL_FIELD_TYPE_RANGE, 2, 3, 3, 12),
            (sys::RTE_ACL_FIELD_TYPE_RANGE, 2, 4, 3, 14),
        ];
        for (i, (t, size, fi, ii, off)) in defs.into_iter().enumerate() {
            cfg.defs[i] = sys::rte_acl_field_def {
                type_: t as u8,
                size,
                field_index: fi,
                input_index: ii,
                offset: off,
            };
        }
        // SAFETY: ctx is live, cfg valid.
        let rc = unsafe { sys::rte_acl_build(ctx.0.as_ptr(), &cfg) };
        if rc != 0 {
            return Err(format!("rte_acl_build: {rc}"));
        }
        Ok(ctx)
    }

    /// Classifies `keys.len()` packets (pointers into keys); results are
    /// userdata (rule index + 1) or 0.
    pub fn classify(&self, keys: &[*const u8], results: &mut [u32]) {
        // SAFETY: every pointer points at a live Key; results has room for one
        // u32 per key (one category).
        let rc = unsafe {
            sys::rte_acl_classify(
                self.0.as_ptr(),
                keys.as_ptr() as *mut *const u8,
                results.as_mut_ptr(),
                keys.len() as u32,
                1,
            )
        };
        debug_assert_eq!(rc, 0);
    }
}

impl Drop for AclCtx {
    fn drop(&mut self) {
        // SAFETY: created by rte_acl_create, freed once.
        unsafe { sys::rte_acl_free(self.0.as_ptr()) }
    }
}
