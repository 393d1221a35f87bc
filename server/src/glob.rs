//! Redis glob patterns (`KEYS`, `SCAN MATCH`, `CONFIG GET`): `*`, `?`, `[abc]`, `[^a-z]` and
//! `\` escapes. Matching backtracks only to the last `*`, so it runs in O(pattern x text).

fn class_match(pat: &[u8], mut p: usize, c: u8, nocase: bool) -> (bool, usize) {
    // `p` points just after '['. Returns (matched, index just after ']').
    let negate = p < pat.len() && pat[p] == b'^';
    if negate {
        p += 1;
    }
    let mut matched = false;
    let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    let c = fold(c);
    loop {
        if p >= pat.len() {
            // Unterminated class: Redis treats the end of pattern as the end of the class.
            break;
        }
        if pat[p] == b'\\' && p + 1 < pat.len() {
            if fold(pat[p + 1]) == c {
                matched = true;
            }
            p += 2;
        } else if pat[p] == b']' {
            p += 1;
            break;
        } else if p + 2 < pat.len() && pat[p + 1] == b'-' {
            let (mut lo, mut hi) = (fold(pat[p]), fold(pat[p + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            if c >= lo && c <= hi {
                matched = true;
            }
            p += 3;
        } else {
            if fold(pat[p]) == c {
                matched = true;
            }
            p += 1;
        }
    }
    (matched != negate, p)
}

/// Whether `text` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, t));
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    let (ok, next) = class_match(pattern, p + 1, text[t], nocase);
                    if ok {
                        p = next;
                        t += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if eq(pattern[p + 1], text[t]) {
                        p += 2;
                        t += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, text[t]) {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn patterns() {
        let m = |p: &str, t: &str| glob_match(p.as_bytes(), t.as_bytes(), false);
        assert!(m("*", ""));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("{post:*}:likes:count", "{post:42}:likes:count"));
        assert!(!m("{post:*}:likes:count", "{post:42}:likes:users"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*a*a*a*a*a*b", &format!("{}b", "a".repeat(50))));
        assert!(!m("*a*a*a*a*a*a*b", &"a".repeat(5000)));
        assert!(glob_match(b"MAXMEMORY*", b"maxmemory-policy", true));
    }
}
