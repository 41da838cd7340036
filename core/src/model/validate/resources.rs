//! Container requests and limits, for services and stores alike: every size a whole
//! number of bytes, limits at least the requests, and limits derived from the requests
//! where the file gives none.

use crate::model::check::{Check, Checked};
use crate::model::service::Resources;
use crate::model::units::Quantity;
use crate::spec::ResourcesSpec;

pub(super) type FieldLookup<'a> =
    dyn Fn(&str, &dyn Fn(&ResourcesSpec) -> Option<&String>) -> Option<(String, String)> + 'a;

/// A quantity and the key that set it; `None` when no layer sets it.
pub(super) type Found = Option<(Quantity, String)>;

/// Requests and limits, limits derived from requests where not given.
pub(super) fn resources(c: &mut Check, get: &FieldLookup, owner: &str) -> Checked<Resources> {
    let mark = c.mark();
    let request = |c: &mut Check, key: &str, f: &dyn Fn(&ResourcesSpec) -> Option<&String>| {
        let key = format!("resources.{key}");
        match get(&key, f) {
            None => Ok((None, key)),
            Some(found) => c
                .parse(&found, Quantity::parse)
                .map(|q| (Some((q, found.1)), key)),
        }
    };
    // A request every container needs, whichever layer sets it.
    let required = |c: &mut Check, found: Checked<(Found, String)>| {
        let (found, key) = found?;
        found.ok_or_else(|| c.error(&key, "is not set and has no built-in default: set it"))
    };
    let cpu = request(c, "cpu", &|r| r.cpu.as_ref());
    let memory = request(c, "memory", &|r| r.memory.as_ref());
    let memory = required(c, memory);
    let ephemeral = request(c, "ephemeral_storage", &|r| r.ephemeral_storage.as_ref());
    let ephemeral = required(c, ephemeral);
    let cpu_limit = request(c, "limits.cpu", &|r| r.limits.as_ref()?.cpu.as_ref());
    let memory_limit = request(c, "limits.memory", &|r| r.limits.as_ref()?.memory.as_ref());
    let ephemeral_limit = request(c, "limits.ephemeral_storage", &|r| {
        r.limits.as_ref()?.ephemeral_storage.as_ref()
    });
    let optional =
        |found: &Checked<(Found, String)>| found.as_ref().ok().and_then(|(found, _)| found.clone());

    for (quantity, key) in [
        memory.as_ref().ok().cloned(),
        ephemeral.as_ref().ok().cloned(),
        optional(&memory_limit),
        optional(&ephemeral_limit),
    ]
    .iter()
    .flatten()
    {
        whole_bytes(c, quantity, key);
    }
    c.clean_since(mark)?;
    let (memory, memory_key) = memory?;
    let (ephemeral, _) = ephemeral?;
    let (cpu, cpu_limit, memory_limit, ephemeral_limit) =
        (cpu?.0, cpu_limit?.0, memory_limit?.0, ephemeral_limit?.0);
    if memory.is_zero() {
        c.error(
            &memory_key,
            format!("{owner} needs a memory request above 0"),
        );
    }
    let cpu = cpu.map(|(q, _)| q).filter(|q| !q.is_zero());
    let cpu_limit = match cpu_limit {
        Some((limit, key)) => {
            if let Some(cpu) = &cpu
                && limit.milli() < cpu.milli()
            {
                c.error(&key, format!("must be ≥ the CPU request ({cpu})"));
            }
            Some(limit)
        }
        // Room to burst at start-up and under spikes without letting one pod starve a node.
        None => cpu.as_ref().map(|cpu| cpu.times(4)),
    };
    let mut at_least = |limit: Found, request: &Quantity, what: &str| match limit {
        Some((limit, key)) => {
            if limit.milli() < request.milli() {
                c.error(&key, format!("must be ≥ the {what} request ({request})"));
            }
            limit
        }
        // Memory is not compressible: a limit above the request only moves the OOM kill
        // from the container to a random neighbour.
        None => request.clone(),
    };
    let memory_limit = at_least(memory_limit, &memory, "memory");
    let ephemeral_storage_limit = at_least(ephemeral_limit, &ephemeral, "ephemeral storage");
    Ok(Resources {
        cpu,
        memory,
        ephemeral_storage: ephemeral,
        cpu_limit,
        memory_limit,
        ephemeral_storage_limit,
    })
}

/// Refuses a byte count with a fraction: `384m` is 0.384 bytes, surely not what was meant.
pub(super) fn whole_bytes(c: &mut Check, quantity: &Quantity, key: &str) {
    if quantity.milli() % 1000 != 0 {
        let text = quantity.as_str();
        let hint = match text.strip_suffix('m') {
            Some(number) => format!("; did you mean `{number}Mi`?"),
            None => String::new(),
        };
        c.error(
            key,
            format!("`{text}` is a fraction of a byte: sizes are whole bytes{hint}"),
        );
    }
}
