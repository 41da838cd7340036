//! The store's business limits, the same in every service that enforces one: the
//! cart checks a line against them before orders does, and orders before products,
//! so a request the first accepts is never refused further down for a limit.

/// Largest quantity of one product in a cart line, an order line or a reservation.
pub const MAX_QUANTITY: i64 = 1000;
/// Most lines in a cart, an order or a reservation.
pub const MAX_LINES: usize = 50;
