//! The checks of `slos`: every value layered as services are (`slos.services.<name>` >
//! `slos.defaults` > built-in defaults) and checked into the model's one collector.
//!
//! Besides errors, they produce *warnings*, which do not stop a render: a service
//! promising more availability than its synchronous dependencies can give, or an
//! objective so loose that a burn-rate alert can never fire.

use super::{
    Alerts, MINUTE, PostSyncCheck, RequestRate, ServiceSlos, SliSource, Slo, SloKind, Slos, WHOLE,
    WINDOWS, decimal,
};
use crate::catalog::{self, ServiceDef};
use crate::defaults;
use crate::model::check::{Check, Checked};
use crate::model::layers::{BuiltinAt, Layers};
use crate::model::units::{Duration, Percent};
use crate::spec::{SloSpec, unknown};

/// The layers an SLO field comes from.
type SloLayers<'a> = Layers<'a, SloSpec>;

fn window(c: &mut Check, (text, key): (String, String)) -> Checked<Duration> {
    if WINDOWS.contains(&text.as_str()) {
        c.parse(&(text, key), Duration::parse)
    } else {
        Err(c.error(
            &key,
            format!(
                "`{text}` is not a supported window: expected one of {} (Prometheus must \
                 keep the whole window)",
                WINDOWS.join(", ")
            ),
        ))
    }
}

fn source(c: &mut Check, (text, key): (String, String)) -> Checked<SliSource> {
    match text.as_str() {
        "mesh" => Ok(SliSource::Mesh),
        "app" => Ok(SliSource::App),
        other => Err(c.error(
            &key,
            format!("`{other}` is not an SLI source: expected `mesh` or `app`"),
        )),
    }
}

/// An objective strictly between 0% and 100%: 100% leaves no error budget (every alert
/// would divide by zero) and 0% promises nothing.
fn objective(c: &mut Check, found: &(String, String)) -> Checked<Percent> {
    let p = c.parse(found, Percent::parse)?;
    if p.micro() == 0 || p.micro() >= WHOLE {
        return Err(c.error(
            &found.1,
            format!(
                "{p} must be strictly between 0% and 100%: 100% leaves no error budget, 0% \
                 promises nothing"
            ),
        ));
    }
    Ok(p)
}

fn ms_list(buckets: &[u64]) -> String {
    buckets
        .iter()
        .map(|&ms| Duration::from_millis(ms).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validates `slos` (and nothing else) of the file `c` checks.
pub(in crate::model) fn validate(c: &mut Check) -> Checked<Slos> {
    let mark = c.mark();
    let spec = c.loaded().spec.slos.clone().unwrap_or_default();
    let overrides = spec.services.clone().unwrap_or_default();
    let names = catalog::names();
    for name in overrides.keys() {
        if catalog::service(name).is_none() {
            c.error(
                &format!("slos.services.{name}"),
                unknown("service", name, &names),
            );
        }
    }
    let global_window = spec
        .window
        .clone()
        .map(|w| (w, "slos.window".to_owned()))
        .unwrap_or_else(|| (defaults::SLO_WINDOW.into(), "slos.window".into()));
    let global_source = spec
        .source
        .clone()
        .map(|s| (s, "slos.source".to_owned()))
        .unwrap_or_else(|| (defaults::SLO_SOURCE.into(), "slos.source".into()));
    let default_window = window(c, global_window);
    let default_source = source(c, global_source);

    let builtin = defaults::slo();
    let services: Vec<Checked<ServiceSlos>> = catalog::SERVICES
        .iter()
        .map(|def| {
            // Built-in values are reported at the service's own key, where a fix would go.
            let layers = Layers::of(
                "slos.",
                def.name,
                &overrides,
                spec.defaults.as_ref(),
                &builtin,
                BuiltinAt::Service,
            );
            service(c, def, &layers, default_window, default_source)
        })
        .collect();
    let services: Checked<Vec<ServiceSlos>> = services.into_iter().collect();

    let check = spec.post_sync_check.clone().unwrap_or_default();
    let check_window = check
        .window
        .clone()
        .unwrap_or_else(|| defaults::POST_SYNC_CHECK_WINDOW.into());
    let key = "slos.post_sync_check.window".to_owned();
    let check_window = c
        .parse(&(check_window, key.clone()), Duration::parse)
        .and_then(|w| {
            // A rate needs two scrapes at least; a minute covers a 30s scrape interval.
            if w.millis() < MINUTE {
                Err(c.error(
                    &key,
                    format!("{w} is too short to measure: use at least 1m"),
                ))
            } else {
                Ok(w)
            }
        });

    if let Ok(services) = &services {
        dependency_warnings(c, services, &overrides, spec.defaults.as_ref());
    }
    let services = services?;
    let window = check_window?;
    c.clean_since(mark)?;
    Ok(Slos {
        services,
        post_sync_check: PostSyncCheck {
            enabled: check.enabled.unwrap_or(true),
            window,
        },
    })
}

fn service(
    c: &mut Check,
    def: &'static ServiceDef,
    layers: &SloLayers,
    default_window: Checked<Duration>,
    default_source: Checked<SliSource>,
) -> Checked<ServiceSlos> {
    let mark = c.mark();
    let window = match layers.get("window", |s| s.window.as_ref()) {
        Some(found) => window(c, found),
        None => default_window,
    };
    let source = match layers.get("source", |s| s.source.as_ref()) {
        Some(found) => source(c, found),
        None => default_source,
    };
    let availability = layers.must(c, "availability", |s| s.availability.as_ref())?;
    let availability = objective(c, &availability);
    let target = layers.must(c, "latency.target", |s| s.latency.as_ref()?.target.as_ref())?;
    let target = objective(c, &target);
    let threshold = layers.must(c, "latency.threshold", |s| {
        s.latency.as_ref()?.threshold.as_ref()
    })?;
    let threshold_key = threshold.1.clone();
    let threshold = c.parse(&threshold, Duration::parse);
    if let (Ok(t), Ok(source)) = (threshold, source)
        && !source.buckets_ms().contains(&t.millis())
    {
        let metric = match source {
            SliSource::App => crate::metrics::REQUEST_DURATION,
            SliSource::Mesh => crate::metrics::MESH_REQUEST_DURATION,
        };
        c.error(
            &threshold_key,
            format!(
                "{t} is not a bucket bound of {metric}, so the latency SLI could not be \
                 measured exactly: use one of {}",
                ms_list(source.buckets_ms())
            ),
        );
    }
    let rate = layers.must(c, "min_request_rate", |s| s.min_request_rate.as_ref())?;
    let min_request_rate = c.parse(&rate, RequestRate::parse);
    let latency_rate = match layers.get("latency.min_request_rate", |s| {
        s.latency.as_ref()?.min_request_rate.as_ref()
    }) {
        Some(found) => c.parse(&found, RequestRate::parse),
        None => min_request_rate,
    };
    // Service-level flags, then per-SLO overrides for latency (`latency.alerts`).
    type Flag = fn(&crate::spec::AlertsSpec) -> Option<bool>;
    let flag = |own: fn(&SloSpec) -> Option<&crate::spec::AlertsSpec>, f: Flag| {
        layers.find(|spec| own(spec).and_then(f))
    };
    let service_alerts = |f: Flag| flag(|s| s.alerts.as_ref(), f).unwrap_or(true);
    let latency_alerts = |f: Flag| {
        flag(|s| s.latency.as_ref()?.alerts.as_ref(), f).unwrap_or_else(|| service_alerts(f))
    };
    let flags: [Flag; 3] = [|a| a.page, |a| a.ticket, |a| a.absent];
    let [page, ticket, absent] = flags.map(service_alerts);
    let alerts = Alerts {
        page,
        ticket,
        absent,
    };
    let [page, ticket, absent] = flags.map(latency_alerts);
    let latency_alerts = Alerts {
        page,
        ticket,
        absent,
    };
    let degrades_gracefully = layers
        .get("degrades_gracefully", |s| s.degrades_gracefully.as_ref())
        .is_some_and(|(v, _)| v);
    c.clean_since(mark)?;
    let slos = vec![
        Slo {
            kind: SloKind::Availability,
            objective: availability?,
            threshold: None,
            alerts,
            min_request_rate: min_request_rate?,
        },
        Slo {
            kind: SloKind::Latency,
            objective: target?,
            threshold: Some(threshold?),
            alerts: latency_alerts,
            min_request_rate: latency_rate?,
        },
    ];
    let service = ServiceSlos {
        def,
        window: window?,
        source: source?,
        degrades_gracefully,
        slos,
    };
    for slo in &service.slos {
        for burn in service.burn_windows() {
            if slo.alerts.on(burn.tier) && burn.unreachable(slo) {
                let key = match slo.kind {
                    SloKind::Availability => "availability",
                    SloKind::Latency => "latency.target",
                };
                let key = layers
                    .get(key, |s| match slo.kind {
                        SloKind::Availability => s.availability.as_ref(),
                        SloKind::Latency => s.latency.as_ref()?.target.as_ref(),
                    })
                    .map(|(_, k)| k)
                    .unwrap_or_default();
                c.warn(
                    &key,
                    format!(
                        "the {} alert over {} of {} {} can never fire: {}x the {} error \
                         budget is an error ratio of {}, above 1",
                        burn.tier.severity(),
                        burn.long,
                        def.name,
                        slo.kind.as_str(),
                        burn.factor(),
                        Percent::parse(&decimal(u128::from(slo.budget_micro()), 1_000_000))
                            .map(|p| p.to_string())
                            .unwrap_or_default(),
                        burn.threshold(slo),
                    ),
                );
            }
        }
    }
    Ok(service)
}

/// Warns where a service promises more availability than the product of its synchronous
/// dependencies' objectives: if each dependency spends its budget independently, the
/// caller fails whenever any of them does, unless it degrades gracefully.
fn dependency_warnings(
    c: &mut Check,
    services: &[ServiceSlos],
    overrides: &std::collections::BTreeMap<String, SloSpec>,
    shared: Option<&SloSpec>,
) {
    let availability = |s: &ServiceSlos| s.slos[0].objective;
    for service in services {
        if service.degrades_gracefully || service.def.calls.is_empty() {
            continue;
        }
        let deps: Vec<&ServiceSlos> = service
            .def
            .calls
            .iter()
            .filter_map(|name| services.iter().find(|s| s.name() == *name))
            .collect();
        // own / WHOLE > product / WHOLE^n  <=>  own x WHOLE^(n-1) > product, in integers.
        // Checked: a service calling five or more others would overflow, and is skipped.
        let mut product: Option<u128> = Some(1);
        let mut scale: Option<u128> = Some(1);
        for dep in &deps {
            product = product.and_then(|p| p.checked_mul(u128::from(availability(dep).micro())));
            scale = scale.and_then(|s| s.checked_mul(u128::from(WHOLE)));
        }
        let own = u128::from(availability(service).micro());
        let (Some(product), Some(scale)) = (product, scale) else {
            continue;
        };
        if own * (scale / u128::from(WHOLE)) > product {
            let name = service.name();
            let key = if overrides
                .get(name)
                .is_some_and(|s| s.availability.is_some())
            {
                format!("slos.services.{name}.availability")
            } else if shared.is_some_and(|s| s.availability.is_some()) {
                "slos.defaults.availability".to_owned()
            } else {
                format!("slos.services.{name}.availability")
            };
            let list = deps
                .iter()
                .map(|d| format!("{} ({})", d.name(), availability(d)))
                .collect::<Vec<_>>()
                .join(" x ");
            let bound = decimal(product.saturating_mul(100), scale);
            c.warn(
                &key,
                format!(
                    "{name} promises {} availability but calls {list} synchronously, which \
                     together give at most {bound}%: lower the objective to {bound}% or \
                     less, or set degrades_gracefully: true if {name} answers without them",
                    availability(service)
                ),
            );
        }
    }
}
