//! Tokens of the MAA policy language, with their positions.

use crate::error::{Span, SyntaxError};

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A name: keyword, identifier, function name.
    Ident(String),
    /// A string literal, escapes resolved.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A decimal such as `1.0` (only meaningful in the version line).
    Decimal(String),
    /// `==`
    EqEq,
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=>`
    Arrow,
    /// `&&`
    AndAnd,
    /// `!`
    Bang,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `;`
    Semi,
    /// `,`
    Comma,
    /// `:`
    Colon,
    /// `.`
    Dot,
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token is shown in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => {
                let short: String = s.chars().take(40).collect();
                if short.len() < s.len() {
                    format!("string \"{short}…\"")
                } else {
                    format!("string \"{short}\"")
                }
            }
            Tok::Int(i) => format!("integer {i}"),
            Tok::Decimal(d) => format!("number {d}"),
            Tok::Eof => "end of input".to_string(),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::EqEq => "==",
            Tok::Eq => "=",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Arrow => "=>",
            Tok::AndAnd => "&&",
            Tok::Bang => "!",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Semi => ";",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::Dot => ".",
            _ => "?",
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    col: u32,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.chars.clone();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn span(&self) -> Span {
        Span::new(self.line, self.col)
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-'
}

/// Splits policy text into tokens. Comments (`// …` to the end of the line,
/// `/* … */`) and white space are dropped.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut cur = Cursor {
        chars: text.chars().peekable(),
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        // Skip white space and comments.
        loop {
            match cur.peek() {
                Some(c) if c.is_whitespace() || c == '\u{feff}' => {
                    cur.bump();
                }
                Some('/') if cur.peek2() == Some('/') => {
                    while let Some(c) = cur.peek() {
                        if c == '\n' {
                            break;
                        }
                        cur.bump();
                    }
                }
                Some('/') if cur.peek2() == Some('*') => {
                    let start = cur.span();
                    cur.bump();
                    cur.bump();
                    let mut closed = false;
                    while let Some(c) = cur.bump() {
                        if c == '*' && cur.peek() == Some('/') {
                            cur.bump();
                            closed = true;
                            break;
                        }
                    }
                    if !closed {
                        return Err(SyntaxError::new(
                            start,
                            "`*/` closing the comment",
                            "end of input",
                            "close the `/*` comment with `*/`",
                        ));
                    }
                }
                _ => break,
            }
        }
        let span = cur.span();
        let Some(c) = cur.peek() else {
            out.push(Token {
                tok: Tok::Eof,
                span,
            });
            return Ok(out);
        };
        let tok = if is_ident_start(c) {
            let mut s = String::new();
            while let Some(c) = cur.peek() {
                if !is_ident_char(c) {
                    break;
                }
                s.push(c);
                cur.bump();
            }
            Tok::Ident(s)
        } else if c.is_ascii_digit()
            || (c == '-' && cur.peek2().is_some_and(|d| d.is_ascii_digit()))
        {
            let mut s = String::new();
            if c == '-' {
                s.push('-');
                cur.bump();
            }
            while let Some(d) = cur.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                s.push(d);
                cur.bump();
            }
            if cur.peek() == Some('.') && cur.peek2().is_some_and(|d| d.is_ascii_digit()) {
                s.push('.');
                cur.bump();
                while let Some(d) = cur.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    s.push(d);
                    cur.bump();
                }
                Tok::Decimal(s)
            } else {
                match s.parse::<i64>() {
                    Ok(i) => Tok::Int(i),
                    Err(_) => {
                        return Err(SyntaxError::new(
                            span,
                            "an integer that fits in 64 bits",
                            format!("`{s}`"),
                            "integers range from -9223372036854775808 to 9223372036854775807",
                        ))
                    }
                }
            }
        } else if c == '"' {
            cur.bump();
            let mut s = String::new();
            loop {
                let here = cur.span();
                match cur.bump() {
                    None => {
                        return Err(SyntaxError::new(
                            span,
                            "`\"` closing the string",
                            "end of input",
                            "close the string with a double quote",
                        ))
                    }
                    Some('"') => break,
                    Some('\\') => match cur.bump() {
                        Some('"') => s.push('"'),
                        Some('\\') => s.push('\\'),
                        Some('/') => s.push('/'),
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some(other) => {
                            return Err(SyntaxError::new(
                                here,
                                "an escape: `\\\"`, `\\\\`, `\\/`, `\\n`, `\\t` or `\\r`",
                                format!("`\\{other}`"),
                                "write `\\\\` for a backslash inside a string",
                            ))
                        }
                        None => {
                            return Err(SyntaxError::new(
                                span,
                                "`\"` closing the string",
                                "end of input",
                                "close the string with a double quote",
                            ))
                        }
                    },
                    Some(ch) => s.push(ch),
                }
            }
            Tok::Str(s)
        } else {
            cur.bump();
            let next = cur.peek();
            let two = |cur: &mut Cursor<'_>, t: Tok| {
                cur.bump();
                t
            };
            match (c, next) {
                ('=', Some('=')) => two(&mut cur, Tok::EqEq),
                ('=', Some('>')) => two(&mut cur, Tok::Arrow),
                ('=', _) => Tok::Eq,
                ('!', Some('=')) => two(&mut cur, Tok::Ne),
                ('!', _) => Tok::Bang,
                ('<', Some('=')) => two(&mut cur, Tok::Le),
                ('<', _) => Tok::Lt,
                ('>', Some('=')) => two(&mut cur, Tok::Ge),
                ('>', _) => Tok::Gt,
                ('&', Some('&')) => two(&mut cur, Tok::AndAnd),
                ('&', _) => {
                    return Err(SyntaxError::new(
                        span,
                        "`&&`",
                        "`&`",
                        "conditions are joined with `&&`",
                    ))
                }
                ('|', _) => {
                    return Err(SyntaxError::new(
                        span,
                        "`&&` or `=>`",
                        "`|`",
                        "the language has no `||`: write one rule per alternative",
                    ))
                }
                ('[', _) => Tok::LBracket,
                (']', _) => Tok::RBracket,
                ('(', _) => Tok::LParen,
                (')', _) => Tok::RParen,
                ('{', _) => Tok::LBrace,
                ('}', _) => Tok::RBrace,
                (';', _) => Tok::Semi,
                (',', _) => Tok::Comma,
                (':', _) => Tok::Colon,
                ('.', _) => Tok::Dot,
                ('\'', _) => {
                    return Err(SyntaxError::new(
                        span,
                        "a token",
                        "`'`",
                        "strings are written in double quotes",
                    ))
                }
                (other, _) => {
                    return Err(SyntaxError::new(
                        span,
                        "a token",
                        format!("`{}`", other.escape_debug()),
                        "remove the stray character",
                    ))
                }
            }
        };
        out.push(Token { tok, span });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_operators_strings_and_comments() {
        assert_eq!(
            toks("c:[type==\"a\\\"b\", value>=-3] // x\n=> /* y */ permit();"),
            vec![
                Tok::Ident("c".into()),
                Tok::Colon,
                Tok::LBracket,
                Tok::Ident("type".into()),
                Tok::EqEq,
                Tok::Str("a\"b".into()),
                Tok::Comma,
                Tok::Ident("value".into()),
                Tok::Ge,
                Tok::Int(-3),
                Tok::RBracket,
                Tok::Arrow,
                Tok::Ident("permit".into()),
                Tok::LParen,
                Tok::RParen,
                Tok::Semi,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("version=1.2;"),
            vec![
                Tok::Ident("version".into()),
                Tok::Eq,
                Tok::Decimal("1.2".into()),
                Tok::Semi,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let t = tokenize("a\n \"é\" b").unwrap();
        assert_eq!((t[0].span.line, t[0].span.col), (1, 1));
        assert_eq!(t[2].tok, Tok::Ident("b".into()));
        assert_eq!((t[2].span.line, t[2].span.col), (2, 6));
    }
}
