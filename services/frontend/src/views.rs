//! The HTML templates, embedded in the binary, and how pages are rendered.
//!
//! Templates are HTML-escaped whatever their name (product names and
//! descriptions come from users), and an undefined variable is an error rather
//! than an empty string, so a typo in a template fails the tests instead of
//! rendering a blank price.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    (
        "catalogue.html",
        include_str!("../templates/catalogue.html"),
    ),
    ("product.html", include_str!("../templates/product.html")),
    ("cart.html", include_str!("../templates/cart.html")),
    ("checkout.html", include_str!("../templates/checkout.html")),
    ("order.html", include_str!("../templates/order.html")),
    ("error.html", include_str!("../templates/error.html")),
];

/// The template environment, built once at start-up.
pub struct Views {
    env: Environment<'static>,
}

impl Views {
    /// Loads and compiles every template; fails only on a template syntax error,
    /// which the unit tests catch.
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // Lenient would hide a misspelt field; chainable lets `{% if x %}` and
        // `x.y or ""` work on optional values that are present as null.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_filter("money", money);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Renders `template` with `ctx` into an HTML response with `status`.
    /// A rendering failure is a bug; it answers a plain 500 and is logged.
    pub fn page(&self, status: StatusCode, template: &str, ctx: Value) -> Response {
        match self.env.get_template(template).and_then(|t| t.render(ctx)) {
            Ok(html) => (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                html,
            )
                .into_response(),
            Err(err) => {
                tracing::error!(template, error = %err, "template failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }
}

/// Formats integer cents as dollars: `123456` -> `$1,234.56`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let dollars = (cents / 100).to_string();
    let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
    for (i, digit) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn money_formats_cents() {
        assert_eq!(money(0), "$0.00");
        assert_eq!(money(5), "$0.05");
        assert_eq!(money(1999), "$19.99");
        assert_eq!(money(123_456_789), "$1,234,567.89");
        assert_eq!(money(-150), "-$1.50");
    }

    #[test]
    fn every_template_renders_and_escapes() {
        let views = Views::new().unwrap();
        let product = context! {
            id => 7, sku => "S-1", name => "<script>x</script>", description => None::<String>,
            price_cents => 1250, stock => 3,
        };
        let cases = [
            (
                "catalogue.html",
                context! { title => "Catalogue", message => None::<String>, notice => None::<String>, products => vec![product.clone()], next => 7, paged => true },
            ),
            (
                "product.html",
                context! { title => "<script>x</script>", message => None::<String>, notice => None::<String>, product => product.clone() },
            ),
            (
                "cart.html",
                context! { title => "Your cart", message => None::<String>, notice => None::<String>, total_cents => 2500,
                lines => vec![context! { product_id => 7, name => "<b>", quantity => 2, price_cents => 1250, total_cents => 2500 }] },
            ),
            (
                "checkout.html",
                context! { title => "Checkout", message => "Oops <b>", notice => None::<String>, user_id => None::<u64>, email => "a@b.c", name => "", checkout_key => "checkout-0a1b",
                summary => true, total_cents => 2500,
                lines => vec![context! { product_id => 7, name => "<b>", quantity => 2, price_cents => 1250, total_cents => 2500 }] },
            ),
            (
                "order.html",
                context! { title => "Order #3", message => None::<String>, notice => None::<String>, names => context! { x => "<b>" }, order => context! {
                id => 3, user_id => 1, status => "confirmed", created_at => "2026-01-01T00:00:00Z", total_cents => 2500,
                items => vec![context! { product_id => 7, quantity => 2, unit_price_cents => 1250 }] } },
            ),
            (
                "error.html",
                context! { title => "Not found", message => "No such page.", notice => None::<String> },
            ),
        ];
        for (name, ctx) in cases {
            let html = views
                .env
                .get_template(name)
                .and_then(|t| t.render(ctx))
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(!html.contains("<script>x"), "{name} does not escape");
            assert!(!html.contains("<b>"), "{name} does not escape");
        }
    }
}
