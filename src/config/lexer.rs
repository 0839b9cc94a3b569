//! Splits configuration text into directives and `<Section …>` blocks; knows nothing about
//! what any directive means (that is [`super::directives`]).
//!
//! The rules, Apache's where Apache has one:
//! - A line ending in `\` (trailing blanks ignored) continues on the next line; the backslash
//!   is removed and the next line appended as it is. A directive's line number is the line it
//!   starts on. Joining happens before anything else, so a `#` comment ending in `\` swallows
//!   the next line, as in Apache.
//! - Arguments are separated by blanks. An argument starting with `"` or `'` runs to the
//!   matching quote; inside it, a backslash before that quote character stands for the quote,
//!   and every other backslash is literal. A quote inside an unquoted word is literal.
//! - `#` at the start of an argument begins a comment that runs to the end of the line; a `#`
//!   inside a word or inside quotes is literal.
//! - `<Name args…>` opens a section and `</Name>` closes it (names case-insensitive). Sections
//!   may nest here; which nestings make sense is the parser's decision.
//!
//! Invariant of the output: every `Line` has a non-empty `name`; every `Section` was closed
//! (or an error says where it was opened).

use std::path::Path;

use super::model::{ConfigError, Origin};

/// One directive (or section opening) with its arguments, quotes removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// As written (case preserved); for a section, the name without `<`.
    pub name: String,
    pub args: Vec<String>,
    /// 1-based line where the directive starts.
    pub line: usize,
}

/// A directive, or a section holding more nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Directive(Line),
    Section { open: Line, body: Vec<Node> },
}

/// A section being read: its opening line and what has been read inside it so far.
struct Frame {
    open: Line,
    body: Vec<Node>,
}

/// One argument of a logical line.
struct Token {
    text: String,
    /// Written in quotes: never a comment, a section bracket or a continuation.
    is_quoted: bool,
}

/// Lexes `text` (read from `file`, for messages). Returns what could be read even when there
/// are errors, so that the parser can report its own problems too.
pub fn lex(text: &str, file: &Path) -> (Vec<Node>, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let mut error = |line: usize, message: String| {
        errors.push(ConfigError {
            origin: Origin {
                file: file.to_path_buf(),
                line,
            },
            message,
        })
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut top: Vec<Node> = Vec::new();

    for (line, logical) in logical_lines(text) {
        let tokens = match tokenize(&logical) {
            Ok(tokens) => tokens,
            Err(message) => {
                error(line, message);
                continue;
            }
        };
        let Some(first) = tokens.first() else {
            continue;
        };
        let body = match stack.last_mut() {
            Some(frame) => &mut frame.body,
            None => &mut top,
        };
        if first.is_quoted || !first.text.starts_with('<') {
            let mut args = tokens.into_iter().map(|t| t.text);
            let name = args.next().unwrap_or_default();
            body.push(Node::Directive(Line {
                name,
                args: args.collect(),
                line,
            }));
            continue;
        }
        let (name, args) = match bracketed(tokens) {
            Ok(parts) => parts,
            Err(message) => {
                error(line, message);
                continue;
            }
        };
        if let Some(closed) = name.strip_prefix('/') {
            if !args.is_empty() {
                error(line, format!("</{closed}> takes no arguments"));
            }
            match stack.pop() {
                Some(frame) if frame.open.name.eq_ignore_ascii_case(closed) => {
                    let section = Node::Section {
                        open: frame.open,
                        body: frame.body,
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.body.push(section),
                        None => top.push(section),
                    }
                }
                Some(frame) => {
                    error(
                        line,
                        format!(
                            "</{closed}> does not close <{}>, opened at line {}",
                            frame.open.name, frame.open.line
                        ),
                    );
                    stack.push(frame);
                }
                None => error(line, format!("</{closed}> without a matching <{closed}>")),
            }
        } else {
            stack.push(Frame {
                open: Line { name, args, line },
                body: Vec::new(),
            });
        }
    }

    // Unclosed sections: report each where it was opened, keep what was read inside it.
    while let Some(frame) = stack.pop() {
        error(
            frame.open.line,
            format!(
                "<{}> is never closed (missing </{}>)",
                frame.open.name, frame.open.name
            ),
        );
        let section = Node::Section {
            open: frame.open,
            body: frame.body,
        };
        match stack.last_mut() {
            Some(parent) => parent.body.push(section),
            None => top.push(section),
        }
    }
    (top, errors)
}

/// Joins continued lines. Yields (line number where it starts, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, physical) in text.lines().enumerate() {
        let trimmed = physical.trim_end();
        let (start, mut buf) = pending.take().unwrap_or((index + 1, String::new()));
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                buf.push_str(head);
                pending = Some((start, buf));
            }
            None => {
                buf.push_str(trimmed);
                out.push((start, buf));
            }
        }
    }
    // A continuation on the last line continues into nothing.
    out.extend(pending);
    out
}

/// Splits one logical line into arguments, dropping a trailing comment.
fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        if c == '"' || c == '\'' {
            chars.next();
            let mut text = String::new();
            let mut is_closed = false;
            while let Some((_, c2)) = chars.next() {
                if c2 == '\\' && chars.peek().map(|&(_, n)| n) == Some(c) {
                    text.push(c);
                    chars.next();
                } else if c2 == c {
                    is_closed = true;
                    break;
                } else {
                    text.push(c2);
                }
            }
            if !is_closed {
                return Err(format!("unterminated {c}quoted{c} argument"));
            }
            // A section tag may close right after a quote, as in `<Proxy "*">`.
            let closes_tag =
                matches!(chars.peek(), Some(&(i, '>')) if line[i + 1..].trim().is_empty());
            if let Some(&(_, next)) = chars.peek().filter(|_| !closes_tag) {
                if !next.is_whitespace() {
                    return Err(format!(
                        "a quoted argument must be followed by a blank: {c}{text}{c}{next}…"
                    ));
                }
            }
            tokens.push(Token {
                text,
                is_quoted: true,
            });
            if closes_tag {
                chars.next();
                tokens.push(Token {
                    text: ">".into(),
                    is_quoted: false,
                });
            }
            continue;
        }
        let mut end = line.len();
        while let Some(&(i, c2)) = chars.peek() {
            if c2.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
        }
        tokens.push(Token {
            text: line[start..end].to_string(),
            is_quoted: false,
        });
    }
    Ok(tokens)
}

/// Reads `<Name args…>` or `</Name>` from tokens whose first starts with `<`. Returns the name
/// (with a leading `/` for a closing tag) and the arguments.
fn bracketed(mut tokens: Vec<Token>) -> Result<(String, Vec<String>), String> {
    let first = tokens.remove(0).text;
    let shown = first.trim_end_matches('>').to_string();
    let last_closes = match tokens.last_mut() {
        Some(last) => !last.is_quoted && last.text.ends_with('>'),
        None => first.ends_with('>'),
    };
    if !last_closes {
        return Err(format!("{shown} … must end with \">\""));
    }
    let name = match tokens.last_mut() {
        Some(last) => {
            last.text.pop();
            if last.text.is_empty() {
                tokens.pop();
            }
            first[1..].to_string()
        }
        None => first[1..first.len() - 1].to_string(),
    };
    let bare = name.strip_prefix('/').unwrap_or(&name);
    if bare.is_empty() || bare.contains(['<', '>']) {
        return Err(format!("malformed section tag {shown}>"));
    }
    Ok((name, tokens.into_iter().map(|t| t.text).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex_ok(text: &str) -> Vec<Node> {
        let (nodes, errors) = lex(text, Path::new("t.conf"));
        assert!(errors.is_empty(), "unexpected errors: {errors:?}");
        nodes
    }

    fn lex_errors(text: &str) -> Vec<String> {
        let (_, errors) = lex(text, Path::new("t.conf"));
        errors.iter().map(ToString::to_string).collect()
    }

    fn directive(name: &str, args: &[&str], line: usize) -> Node {
        Node::Directive(Line {
            name: name.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            line,
        })
    }

    #[test]
    fn splits_directives_on_blanks_and_skips_blank_and_comment_lines() {
        let nodes = lex_ok("\n# a comment\n   \nProxyPass   /perl/\thttp://localhost:81/perl/\n");
        assert_eq!(
            nodes,
            vec![directive(
                "ProxyPass",
                &["/perl/", "http://localhost:81/perl/"],
                4
            )]
        );
    }

    #[test]
    fn reads_double_and_single_quoted_arguments_with_escaped_quotes() {
        let nodes =
            lex_ok("LogFormat \"%h \\\"%r\\\" %>s\" mine\nLogFormat '%h \\'x\\' \"y\"' other\n");
        assert_eq!(
            nodes,
            vec![
                directive("LogFormat", &["%h \"%r\" %>s", "mine"], 1),
                directive("LogFormat", &["%h 'x' \"y\"", "other"], 2),
            ]
        );
    }

    #[test]
    fn keeps_backslashes_that_do_not_escape_the_quote() {
        let nodes = lex_ok(r#"X "a\nb\\c" 'd\"e'"#);
        assert_eq!(nodes, vec![directive("X", &[r"a\nb\\c", r#"d\"e"#], 1)]);
    }

    #[test]
    fn treats_hash_as_comment_only_at_the_start_of_an_argument() {
        let nodes = lex_ok("CacheSize 50000   # 50 MB\nX a#b \"#c\" '#d' #e f\n");
        assert_eq!(
            nodes,
            vec![
                directive("CacheSize", &["50000"], 1),
                directive("X", &["a#b", "#c", "#d"], 2),
            ]
        );
    }

    #[test]
    fn quoted_empty_argument_is_an_argument() {
        assert_eq!(lex_ok("X \"\" ''"), vec![directive("X", &["", ""], 1)]);
    }

    #[test]
    fn continuation_joins_lines_and_keeps_the_starting_line_number() {
        let nodes = lex_ok(
            "A 1\nProxyPass /perl/ \\\n    http://localhost:81/perl/ \\  \n  timeout=5\nB 2\n",
        );
        assert_eq!(
            nodes,
            vec![
                directive("A", &["1"], 1),
                directive(
                    "ProxyPass",
                    &["/perl/", "http://localhost:81/perl/", "timeout=5"],
                    2
                ),
                directive("B", &["2"], 5),
            ]
        );
    }

    #[test]
    fn continuation_appends_without_adding_a_blank() {
        assert_eq!(
            lex_ok("X http://a\\\n/b"),
            vec![directive("X", &["http://a/b"], 1)]
        );
    }

    #[test]
    fn continuation_may_span_a_quoted_argument() {
        assert_eq!(lex_ok("X \"a \\\nb\""), vec![directive("X", &["a b"], 1)]);
    }

    #[test]
    fn comment_ending_in_backslash_continues_as_in_apache() {
        assert_eq!(
            lex_ok("# note \\\nHidden 1\nShown 2"),
            vec![directive("Shown", &["2"], 3)]
        );
    }

    #[test]
    fn continuation_on_the_last_line_ends_the_directive() {
        assert_eq!(lex_ok("X a \\"), vec![directive("X", &["a"], 1)]);
    }

    #[test]
    fn reads_sections_case_insensitively_with_their_bodies() {
        let nodes = lex_ok("<VirtualHost *:80 [::1]:80>\n  ServerName a\n</virtualhost>\nB\n");
        assert_eq!(
            nodes,
            vec![
                Node::Section {
                    open: Line {
                        name: "VirtualHost".into(),
                        args: vec!["*:80".into(), "[::1]:80".into()],
                        line: 1
                    },
                    body: vec![directive("ServerName", &["a"], 2)],
                },
                directive("B", &[], 4),
            ]
        );
    }

    #[test]
    fn accepts_blanks_before_the_closing_bracket_and_a_trailing_comment() {
        let nodes = lex_ok("<VirtualHost * > # x\n</VirtualHost >\n<Empty>\n</Empty>");
        assert_eq!(nodes.len(), 2);
        let Node::Section { open, body } = &nodes[0] else {
            panic!("not a section: {nodes:?}")
        };
        assert_eq!(open.args, vec!["*".to_string()]);
        assert!(body.is_empty());
        let Node::Section { open, .. } = &nodes[1] else {
            panic!("not a section: {nodes:?}")
        };
        assert_eq!(open.name, "Empty");
        assert!(open.args.is_empty());
    }

    #[test]
    fn keeps_nested_sections_for_the_parser_to_judge() {
        let nodes = lex_ok("<A>\n<B x>\nC\n</B>\n</A>");
        let Node::Section { body, .. } = &nodes[0] else {
            panic!("not a section")
        };
        assert!(matches!(&body[0], Node::Section { open, .. } if open.name == "B"));
    }

    #[test]
    fn reports_an_unclosed_section_at_its_opening_line() {
        assert_eq!(
            lex_errors("Listen 80\n<VirtualHost *:80>\nServerName a\n"),
            vec!["t.conf:2: <VirtualHost> is never closed (missing </VirtualHost>)"]
        );
    }

    #[test]
    fn keeps_the_body_of_an_unclosed_section() {
        let (nodes, _) = lex("<VirtualHost *>\nServerName a\n", Path::new("t.conf"));
        assert!(matches!(&nodes[0], Node::Section { body, .. } if body.len() == 1));
    }

    #[test]
    fn reports_a_close_without_an_open() {
        assert_eq!(
            lex_errors("\n</VirtualHost>"),
            vec!["t.conf:2: </VirtualHost> without a matching <VirtualHost>"]
        );
    }

    #[test]
    fn reports_a_close_that_does_not_match_the_open_section() {
        assert_eq!(
            lex_errors("<VirtualHost *>\n</Location>\n</VirtualHost>"),
            vec!["t.conf:2: </Location> does not close <VirtualHost>, opened at line 1"]
        );
    }

    #[test]
    fn a_section_tag_may_close_right_after_a_quoted_argument() {
        let nodes = lex_ok("<Proxy \"*\">\nRequire local\n</Proxy>\n");
        let Node::Section { open, body } = &nodes[0] else {
            panic!("{nodes:?}");
        };
        assert_eq!(
            (open.name.as_str(), open.args.as_slice()),
            ("Proxy", &["*".to_string()][..])
        );
        assert_eq!(body.len(), 1);
        assert_eq!(
            lex_errors("A \"x\">y\n"),
            vec!["t.conf:1: a quoted argument must be followed by a blank: \"x\">…"]
        );
    }

    #[test]
    fn reports_a_section_tag_without_closing_bracket() {
        assert_eq!(
            lex_errors("<VirtualHost *:80\n"),
            vec!["t.conf:1: <VirtualHost … must end with \">\""]
        );
    }

    #[test]
    fn reports_arguments_on_a_closing_tag() {
        assert_eq!(
            lex_errors("<VirtualHost *>\n</VirtualHost *>"),
            vec!["t.conf:2: </VirtualHost> takes no arguments"]
        );
    }

    #[test]
    fn reports_an_empty_section_name() {
        assert_eq!(lex_errors("<>"), vec!["t.conf:1: malformed section tag <>"]);
    }

    #[test]
    fn reports_an_unterminated_quote_at_the_directive_line() {
        assert_eq!(
            lex_errors("A\nLogFormat \"%h \\\n%l\n"),
            vec!["t.conf:2: unterminated \"quoted\" argument"]
        );
    }

    #[test]
    fn reports_text_glued_to_a_closing_quote() {
        assert_eq!(
            lex_errors("X \"a\"b"),
            vec!["t.conf:1: a quoted argument must be followed by a blank: \"a\"b…"]
        );
    }

    #[test]
    fn collects_every_error_and_keeps_reading() {
        let (nodes, errors) = lex("X \"a\nY 1\n</Z>\nW 'b\n", Path::new("t.conf"));
        assert_eq!(errors.len(), 3);
        assert_eq!(nodes, vec![directive("Y", &["1"], 2)]);
    }

    #[test]
    fn handles_crlf_line_endings() {
        assert_eq!(
            lex_ok("A 1\r\nB 2 \\\r\n 3\r\n"),
            vec![directive("A", &["1"], 1), directive("B", &["2", "3"], 2)]
        );
    }
}
