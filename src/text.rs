//! Wording shared by the commands' output.

/// "1 broker", "3 brokers": a count with its noun in the right number.
pub fn counted(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn one_is_singular_every_other_count_plural() {
        assert_eq!(counted(0, "problem", "problems"), "0 problems");
        assert_eq!(counted(1, "problem", "problems"), "1 problem");
        assert_eq!(counted(2, "tenant", "tenants"), "2 tenants");
    }
}
