//! What a consumed topic's messages hold, and how each becomes records.
//!
//! In: a message value and the batch interval. Out: the records it carries, in time order,
//! appended to the caller's buffer (flows as weighted records, `crate::flow`), and, when
//! some of it was unusable, how much and why. Guarantees: never panics on any bytes; what
//! is unusable is counted (a packet batch once, a flow message once per bad flow in it).

use std::str::FromStr;

use super::{goflow, pmacct, wire};
use crate::record::Record;

/// What the topic's messages hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// flowsentry packet record batches ([`wire`]).
    Packets,
    /// pmacct JSON flows ([`pmacct`]).
    Pmacct,
    /// goflow2's protobuf flows ([`goflow`]).
    Goflow2,
    /// goflow2's JSON flows ([`goflow`]).
    Goflow2Json,
}

/// The unusable part of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Unusable items: 1 for a packet batch, the bad flows of a flow message.
    pub count: u64,
    /// Why the first of them was unusable.
    pub first: String,
}

/// Every format, by its `--format` name.
const NAMES: [(&str, Format); 4] = [
    ("packets", Format::Packets),
    ("pmacct", Format::Pmacct),
    ("goflow2", Format::Goflow2),
    ("goflow2-json", Format::Goflow2Json),
];

impl Format {
    pub fn name(&self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, f)| f == self)
            .map_or("?", |(n, _)| n)
    }

    /// Decode one message value into `out`. A flow message's records come out in time order
    /// (`flow::weighted_all` sorts the ones it adds).
    pub fn decode(
        &self,
        value: &[u8],
        batch_ns: u64,
        out: &mut Vec<(Record, u32)>,
    ) -> Option<Malformed> {
        let errors: Vec<String> = match self {
            Format::Packets => {
                return wire::decode(value, out).err().map(|e| Malformed {
                    count: 1,
                    first: e.to_string(),
                })
            }
            Format::Pmacct => strings(pmacct::decode_message(value, batch_ns, out)),
            Format::Goflow2 => strings(goflow::decode_protobuf(value, batch_ns, out)),
            Format::Goflow2Json => strings(goflow::decode_json(value, batch_ns, out)),
        };
        let first = errors.first()?.clone();
        Some(Malformed {
            count: errors.len() as u64,
            first,
        })
    }
}

fn strings<E: ToString>(errors: Vec<E>) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let all: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                format!("`{s}`: expected one of {}", all.join(", "))
            })
    }
}
