//! Objectives written as percentages (Sloth's `objective: 99.9`, Pyrra's
//! `target: "99.5"`), read exactly through kubestore-core's `Percent` so `99.9` is the
//! ratio `0.999` and not `0.9990000000000001`.

use kubestore_core::model::units::Percent;

use crate::yaml::Node;

/// The objective as a ratio in (0, 1), or why the value is not one.
pub fn from_percent(node: &Node) -> Result<f64, String> {
    let Some(text) = node.scalar_text() else {
        return Err(format!(
            "expected a percentage such as `99.9`, found {}",
            node.kind()
        ));
    };
    let percent = Percent::parse(text.trim()).map_err(|_| {
        format!("`{text}` is not a percentage: expected a number between 0 and 100, e.g. `99.9`")
    })?;
    let ratio = percent.ratio();
    if ratio <= 0.0 || ratio >= 1.0 {
        return Err(format!(
            "`{text}` must be between 0 and 100, both excluded: a 100% objective has no error budget"
        ));
    }
    Ok(ratio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Value;

    fn node(value: Value) -> Node {
        Node { value, line: 1 }
    }

    #[test]
    fn percentages_are_exact_ratios() {
        assert_eq!(from_percent(&node(Value::Number(99.9))), Ok(0.999));
        assert_eq!(from_percent(&node(Value::String("99.5".into()))), Ok(0.995));
        assert_eq!(
            from_percent(&node(Value::Number(100.0))).unwrap_err(),
            "`100` must be between 0 and 100, both excluded: a 100% objective has no error budget"
        );
        assert_eq!(
            from_percent(&node(Value::String("0.999x".into()))).unwrap_err(),
            "`0.999x` is not a percentage: expected a number between 0 and 100, e.g. `99.9`"
        );
    }
}
