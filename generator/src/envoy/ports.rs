//! Where every process of the one-machine stack listens: the one place that decides it.
//! The sidecars' listeners, the clusters that reach them, the services' `*_URL`
//! variables and Prometheus' targets are all computed here.

use kubestore_core::catalog::{self, ServiceDef};

/// Replicas of every stateless service on one machine: enough to fail over and to roll.
pub const REPLICAS: u16 = 2;

/// Port plan of one stack, everything on 127.0.0.1 from `base` on. Service number `i`
/// (catalogue order) owns `base + 100 i .. base + 100 i + 99`; replica `r` of it owns ten
/// ports from `base + 100 i + 10 r`: the app, its sidecar's inbound listener, its
/// sidecar's admin, then one outbound listener per dependency. The ingress and the
/// monitoring servers sit at `base + 900` and up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalPorts {
    /// First port of the plan.
    pub base: u16,
}

/// Where a plan starts unless told otherwise.
pub const DEFAULT_BASE: u16 = 20000;

/// How many ports a plan takes, from its base on.
pub const SPAN: u16 = 1000;

impl Default for LocalPorts {
    fn default() -> Self {
        Self { base: DEFAULT_BASE }
    }
}

/// Reads a `--port-base`: a port from which the whole plan fits above the privileged
/// ports and below 65536. Both command lines that take one use it.
pub fn parse_base(raw: &str) -> Result<u16, String> {
    let highest = u16::MAX - (SPAN - 1);
    match raw.trim().parse::<u16>() {
        Ok(base) if (1024..=highest).contains(&base) => Ok(base),
        _ => Err(format!(
            "`{raw}` leaves no room for the stack's {SPAN} ports: use 1024 to {highest}"
        )),
    }
}

impl LocalPorts {
    fn replica_base(self, service: &ServiceDef, replica: u16) -> u16 {
        let index = catalog::SERVICES
            .iter()
            .position(|s| s.name == service.name)
            .expect("a catalogue service") as u16;
        self.base + 100 * index + 10 * replica
    }

    /// The service's own HTTP port.
    pub fn app(self, service: &ServiceDef, replica: u16) -> u16 {
        self.replica_base(service, replica)
    }

    /// The sidecar's inbound listener: what callers' clusters and Prometheus reach.
    pub fn inbound(self, service: &ServiceDef, replica: u16) -> u16 {
        self.replica_base(service, replica) + 1
    }

    /// The sidecar's admin interface (`/stats/prometheus`, `/clusters`, `/ready`).
    pub fn sidecar_admin(self, service: &ServiceDef, replica: u16) -> u16 {
        self.replica_base(service, replica) + 2
    }

    /// The sidecar's outbound listener for `dependency`, which the app's `<DEP>_URL`
    /// points at.
    pub fn outbound(self, service: &ServiceDef, replica: u16, dependency: &str) -> u16 {
        let position = service
            .calls
            .iter()
            .position(|d| *d == dependency)
            .expect("a dependency from the call graph") as u16;
        self.replica_base(service, replica) + 3 + position
    }

    /// The ingress gateway's HTTP listener: the store's public address.
    pub fn ingress(self) -> u16 {
        self.base + 900
    }

    /// The ingress gateway's admin interface.
    pub fn ingress_admin(self) -> u16 {
        self.base + 901
    }

    /// Prometheus.
    pub fn prometheus(self) -> u16 {
        self.base + 990
    }

    /// Alertmanager.
    pub fn alertmanager(self) -> u16 {
        self.base + 993
    }

    /// The highest port the plan uses.
    pub fn last(self) -> u16 {
        self.base + (SPAN - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_base_leaves_room_for_the_whole_plan() {
        assert_eq!(parse_base("20000"), Ok(20000));
        assert_eq!(parse_base("64536"), Ok(64536));
        for bad in ["1023", "64537", "70000", "-1", "twenty"] {
            assert_eq!(
                parse_base(bad),
                Err(format!(
                    "`{bad}` leaves no room for the stack's 1000 ports: use 1024 to 64536"
                )),
            );
        }
    }

    #[test]
    fn no_two_listeners_share_a_port() {
        let ports = LocalPorts::default();
        let mut all = vec![
            ports.ingress(),
            ports.ingress_admin(),
            ports.prometheus(),
            ports.alertmanager(),
        ];
        for s in catalog::SERVICES {
            assert!(s.calls.len() <= 7, "{} has too many dependencies", s.name);
            for r in 0..REPLICAS {
                all.extend([
                    ports.app(s, r),
                    ports.inbound(s, r),
                    ports.sidecar_admin(s, r),
                ]);
                all.extend(s.calls.iter().map(|d| ports.outbound(s, r, d)));
            }
        }
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
        assert!(all.iter().all(|p| *p <= ports.last()));
    }
}
