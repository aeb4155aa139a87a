//! The subset of OData `$filter` that Graph's audit log endpoints accept, and Graph's refusals.
//!
//! Accepted: a conjunction (`and`) of comparisons `ge`, `le`, `eq` on the endpoint's own time field
//! (`createdDateTime` for sign-ins, `activityDateTime` for the others) and, on beta sign-ins, one
//! `signInEventTypes/any(t: t eq '…' or t eq '…')`. Everything else is refused with 400, as Graph
//! does for `gt`/`lt` (undocumented, reported rejected), for the other endpoint's time field, for
//! `signInEventTypes` on v1.0 and for user and service-principal types in one query.

use crate::clock::Timestamp;

/// A parsed filter: the inclusive time range and the sign-in event types asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub event_types: Vec<String>,
}

/// Why a filter was refused; the text goes into Graph's error message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError(pub String);

pub const USER_EVENT_TYPES: [&str; 2] = ["interactiveUser", "nonInteractiveUser"];
pub const WORKLOAD_EVENT_TYPES: [&str; 2] = ["servicePrincipal", "managedIdentity"];

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Colon,
    Slash,
}

fn tokenize(input: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let characters: Vec<(usize, char)> = input.char_indices().collect();
    let mut tokens = Vec::new();
    let mut position = 0;
    while position < characters.len() {
        let (offset, character) = characters[position];
        match character {
            ' ' | '\t' | '\n' => position += 1,
            '(' => {
                tokens.push((offset, Token::Open));
                position += 1;
            }
            ')' => {
                tokens.push((offset, Token::Close));
                position += 1;
            }
            ':' => {
                tokens.push((offset, Token::Colon));
                position += 1;
            }
            '/' => {
                tokens.push((offset, Token::Slash));
                position += 1;
            }
            '\'' => {
                let mut text = String::new();
                position += 1;
                loop {
                    let Some(&(_, next)) = characters.get(position) else {
                        return Err(syntax_error(input, offset, "unterminated string literal"));
                    };
                    position += 1;
                    if next == '\'' {
                        // OData escapes a quote by doubling it
                        if characters.get(position).map(|(_, c)| *c) == Some('\'') {
                            text.push('\'');
                            position += 1;
                            continue;
                        }
                        break;
                    }
                    text.push(next);
                }
                tokens.push((offset, Token::Text(text)));
            }
            _ => {
                let start = position;
                while position < characters.len()
                    && !matches!(
                        characters[position].1,
                        ' ' | '\t' | '\n' | '(' | ')' | '\'' | '/'
                    )
                    && (characters[position].1 != ':'
                        || looks_like_time(&characters[start..position]))
                {
                    position += 1;
                }
                let word: String = characters[start..position].iter().map(|(_, c)| c).collect();
                tokens.push((offset, Token::Word(word)));
            }
        }
    }
    Ok(tokens)
}

/// A colon belongs to a word only inside a date-time literal (`2024-01-01T10:00:00Z`).
fn looks_like_time(word_so_far: &[(usize, char)]) -> bool {
    word_so_far.len() >= 11
        && word_so_far[0].1.is_ascii_digit()
        && word_so_far.iter().any(|(_, c)| *c == 'T')
}

fn syntax_error(input: &str, offset: usize, what: &str) -> FilterError {
    FilterError(format!(
        "Invalid filter clause: Syntax error at position {offset} in '{input}': {what}."
    ))
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<(usize, Token)>,
    position: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position).map(|(_, token)| token)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.position)
            .map_or(self.input.len(), |(offset, _)| *offset)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self
            .tokens
            .get(self.position)
            .map(|(_, token)| token.clone());
        self.position += 1;
        token
    }

    fn expect(&mut self, expected: &Token, what: &str) -> Result<(), FilterError> {
        let offset = self.offset();
        match self.next() {
            Some(token) if &token == expected => Ok(()),
            _ => Err(syntax_error(self.input, offset, what)),
        }
    }

    fn word(&mut self, what: &str) -> Result<String, FilterError> {
        let offset = self.offset();
        match self.next() {
            Some(Token::Word(word)) => Ok(word),
            _ => Err(syntax_error(self.input, offset, what)),
        }
    }
}

/// Parses `$filter` for an endpoint whose time field is `time_field`.
pub fn parse(
    input: &str,
    time_field: &str,
    allow_event_types: bool,
) -> Result<Filter, FilterError> {
    let mut parser = Parser {
        input,
        tokens: tokenize(input)?,
        position: 0,
    };
    let mut filter = Filter::default();
    parse_conjunction(&mut parser, &mut filter, time_field, allow_event_types, 0)?;
    if parser.position < parser.tokens.len() {
        return Err(syntax_error(
            input,
            parser.offset(),
            "unexpected text after the expression",
        ));
    }
    validate_event_types(&filter.event_types)?;
    Ok(filter)
}

fn parse_conjunction(
    parser: &mut Parser,
    filter: &mut Filter,
    time_field: &str,
    allow_event_types: bool,
    depth: usize,
) -> Result<(), FilterError> {
    loop {
        parse_term(parser, filter, time_field, allow_event_types, depth)?;
        match parser.peek() {
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("and") => {
                parser.next();
            }
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("or") => {
                return Err(FilterError(
                    "Invalid filter clause: 'or' is supported only between sign-in event types \
                     inside signInEventTypes/any()."
                        .to_owned(),
                ));
            }
            _ => return Ok(()),
        }
    }
}

fn parse_term(
    parser: &mut Parser,
    filter: &mut Filter,
    time_field: &str,
    allow_event_types: bool,
    depth: usize,
) -> Result<(), FilterError> {
    if parser.peek() == Some(&Token::Open) {
        if depth > 8 {
            return Err(syntax_error(
                parser.input,
                parser.offset(),
                "nesting too deep",
            ));
        }
        parser.next();
        parse_conjunction(parser, filter, time_field, allow_event_types, depth + 1)?;
        return parser.expect(&Token::Close, "')' expected");
    }
    let property = parser.word("a property name was expected")?;
    if parser.peek() == Some(&Token::Slash) {
        return parse_lambda(parser, filter, &property, allow_event_types);
    }
    let operator = parser.word("an operator was expected")?;
    let value_offset = parser.offset();
    let value = match parser.next() {
        Some(Token::Word(word)) => word,
        Some(Token::Text(text)) => text,
        _ => {
            return Err(syntax_error(
                parser.input,
                value_offset,
                "a value was expected",
            ));
        }
    };
    if property != time_field {
        return Err(FilterError(format!(
            "Invalid filter clause: Could not find a property named '{property}' on this \
             resource, or it cannot be filtered; filter on '{time_field}'."
        )));
    }
    let Some(time) = Timestamp::parse_rfc3339(&value) else {
        return Err(FilterError(format!(
            "Invalid filter clause: The DateTimeOffset text '{value}' should be in format \
             'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range."
        )));
    };
    match operator.to_ascii_lowercase().as_str() {
        "ge" => filter.from = Some(filter.from.map_or(time, |from| from.max(time))),
        "le" => filter.to = Some(filter.to.map_or(time, |to| to.min(time))),
        "eq" => {
            filter.from = Some(filter.from.map_or(time, |from| from.max(time)));
            filter.to = Some(filter.to.map_or(time, |to| to.min(time)));
        }
        other => {
            return Err(FilterError(format!(
                "Invalid filter clause: The operator '{other}' is not supported on \
                 '{time_field}'; use 'ge', 'le' or 'eq'."
            )));
        }
    }
    Ok(())
}

fn parse_lambda(
    parser: &mut Parser,
    filter: &mut Filter,
    property: &str,
    allow_event_types: bool,
) -> Result<(), FilterError> {
    if property != "signInEventTypes" || !allow_event_types {
        return Err(FilterError(format!(
            "Invalid filter clause: Could not find a property named '{property}' on type \
             'microsoft.graph.signIn'."
        )));
    }
    parser.expect(&Token::Slash, "'/' expected")?;
    let function = parser.word("'any' expected")?;
    if function != "any" {
        return Err(syntax_error(
            parser.input,
            parser.offset(),
            "only 'any' is supported",
        ));
    }
    parser.expect(&Token::Open, "'(' expected")?;
    let variable = parser.word("a range variable was expected")?;
    parser.expect(&Token::Colon, "':' expected")?;
    loop {
        let name = parser.word("the range variable was expected")?;
        if name != variable {
            return Err(syntax_error(
                parser.input,
                parser.offset(),
                "unknown range variable",
            ));
        }
        let operator = parser.word("'eq' expected")?;
        if operator != "eq" {
            return Err(FilterError(format!(
                "Invalid filter clause: The operator '{operator}' is not supported on \
                 signInEventTypes; use 'eq'."
            )));
        }
        let value_offset = parser.offset();
        match parser.next() {
            Some(Token::Text(text)) => filter.event_types.push(text),
            _ => {
                return Err(syntax_error(
                    parser.input,
                    value_offset,
                    "a quoted event type was expected",
                ));
            }
        }
        match parser.peek() {
            Some(Token::Word(word)) if word == "or" => {
                parser.next();
            }
            _ => break,
        }
    }
    parser.expect(&Token::Close, "')' expected")
}

fn validate_event_types(event_types: &[String]) -> Result<(), FilterError> {
    for event_type in event_types {
        if !USER_EVENT_TYPES.contains(&event_type.as_str())
            && !WORKLOAD_EVENT_TYPES.contains(&event_type.as_str())
        {
            return Err(FilterError(format!(
                "Invalid filter clause: The requested signInEventType '{event_type}' is not \
                 a member of microsoft.graph.signInEventType."
            )));
        }
    }
    let has_user = event_types
        .iter()
        .any(|event_type| USER_EVENT_TYPES.contains(&event_type.as_str()));
    let workload_types: Vec<&String> = event_types
        .iter()
        .filter(|event_type| WORKLOAD_EVENT_TYPES.contains(&event_type.as_str()))
        .collect();
    if (has_user && !workload_types.is_empty())
        || workload_types
            .iter()
            .any(|first| workload_types.iter().any(|second| first != second))
    {
        return Err(FilterError(
            "Invalid filter clause: signInEventTypes of user sign-ins cannot be combined with \
             servicePrincipal or managedIdentity in one query."
                .to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).expect("valid time")
    }

    #[test]
    fn time_ranges_and_event_types_parse() {
        let filter = parse(
            "createdDateTime ge 2024-05-01T10:00:00Z and createdDateTime le 2024-05-01T11:00:00.500Z \
             and (signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser'))",
            "createdDateTime",
            true,
        )
        .expect("accepted");
        assert_eq!(filter.from, Some(at("2024-05-01T10:00:00Z")));
        assert_eq!(filter.to, Some(at("2024-05-01T11:00:00.500Z")));
        assert_eq!(
            filter.event_types,
            vec!["interactiveUser", "nonInteractiveUser"]
        );
        let exact = parse(
            "activityDateTime eq 2024-05-01T10:00:00Z",
            "activityDateTime",
            false,
        )
        .expect("accepted");
        assert_eq!(exact.from, exact.to);
    }

    #[test]
    fn graph_refusals_are_reproduced() {
        let refused = |filter: &str, time_field: &str, beta: bool| {
            parse(filter, time_field, beta).expect_err("refused").0
        };
        assert!(
            refused(
                "createdDateTime gt 2024-05-01T10:00:00Z",
                "createdDateTime",
                true
            )
            .contains("operator 'gt' is not supported")
        );
        // Wazuh's bug: the sign-in time field on directory audits
        assert!(
            refused(
                "createdDateTime ge 2024-05-01T10:00:00Z",
                "activityDateTime",
                true
            )
            .contains("Could not find a property named 'createdDateTime'")
        );
        assert!(
            refused(
                "signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'servicePrincipal')",
                "createdDateTime",
                true
            )
            .contains("cannot be combined")
        );
        assert!(
            refused(
                "signInEventTypes/any(t: t eq 'interactiveUser')",
                "createdDateTime",
                false
            )
            .contains("Could not find a property named 'signInEventTypes'")
        );
        assert!(refused(
            "createdDateTime ge 2024-05-01T10:00:00Z or createdDateTime le 2024-05-01T11:00:00Z",
            "createdDateTime",
            true
        )
        .contains("'or' is supported only"));
        assert!(
            refused("createdDateTime ge yesterday", "createdDateTime", true)
                .contains("DateTimeOffset text 'yesterday'")
        );
        assert!(
            refused("createdDateTime ge", "createdDateTime", true)
                .starts_with("Invalid filter clause")
        );
        assert!(
            refused(
                "signInEventTypes/any(t: t eq 'robot')",
                "createdDateTime",
                true
            )
            .contains("'robot' is not")
        );
    }
}
