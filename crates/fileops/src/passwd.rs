//! Parsing `/etc/passwd` and `/etc/group` the way moby/sys/user does.
//!
//! The parser is deliberately forgiving, as the Go one is: fields are split on `:`,
//! missing trailing fields are empty, numbers that do not parse are 0, blank lines are
//! skipped. The two files differ in one respect: group lines starting with `#` are
//! comments, passwd lines are not (a `#name:...` line defines a user called `#name`).

use std::io;

/// Go's `bufio.Scanner` refuses lines this long, which makes the whole passwd read
/// fail in moby/sys/user.
const MAX_SCAN_LINE: usize = 64 * 1024;

/// One line of a passwd file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasswdEntry {
    pub(crate) name: String,
    pub(crate) uid: i64,
    pub(crate) gid: i64,
    pub(crate) home: String,
}

/// One line of a group file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupEntry {
    pub(crate) name: String,
    pub(crate) gid: i64,
    pub(crate) members: Vec<String>,
}

/// `ParsePasswd`.
///
/// # Errors
///
/// A line of 64 KiB or more, as Go's line scanner gives up on it.
pub(crate) fn parse_passwd(data: &[u8]) -> io::Result<Vec<PasswdEntry>> {
    let mut out = Vec::new();
    for raw in data.split(|&b| b == b'\n') {
        if raw.len() >= MAX_SCAN_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bufio.Scanner: token too long",
            ));
        }
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_matches(char::is_whitespace);
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let text = |i: usize| fields.get(i).map(|s| (*s).to_owned()).unwrap_or_default();
        let number = |i: usize| fields.get(i).map(|s| atoi(s).0).unwrap_or(0);
        out.push(PasswdEntry {
            name: text(0),
            uid: number(2),
            gid: number(3),
            home: text(5),
        });
    }
    Ok(out)
}

/// `ParseGroup`.
pub(crate) fn parse_group(data: &[u8]) -> Vec<GroupEntry> {
    let mut out = Vec::new();
    for raw in data.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_matches(char::is_whitespace);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        out.push(GroupEntry {
            name: fields.first().map(|s| (*s).to_owned()).unwrap_or_default(),
            gid: fields.get(2).map(|s| atoi(s).0).unwrap_or(0),
            // An empty member field is an empty list, not one empty name.
            members: match fields.get(3) {
                Some(list) if !list.is_empty() => list.split(',').map(str::to_owned).collect(),
                _ => Vec::new(),
            },
        });
    }
    out
}

/// Go's `strconv.Atoi`: the value and whether it parsed. An optional sign, then
/// decimal digits only; out-of-range values are clamped (and reported as failures),
/// anything else is `(0, false)`.
pub(crate) fn atoi(s: &str) -> (i64, bool) {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return (0, false);
    }
    let mut value: i64 = 0;
    for b in digits.bytes() {
        let digit = i64::from(b - b'0');
        let next = value.checked_mul(10).and_then(|v| {
            if negative {
                v.checked_sub(digit)
            } else {
                v.checked_add(digit)
            }
        });
        match next {
            Some(v) => value = v,
            None => return (if negative { i64::MIN } else { i64::MAX }, false),
        }
    }
    (value, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_parse_like_moby_sys_user() {
        let data = b"root:x:0:0:root:/root:/bin/sh\n\
            \n   \n\
            #comment:x:5:5::/c:/bin/false\n\
            short:x:12\n\
            bad:x:abc:-7:g:/h\n\
            \tspaced:x:1:2:g:/home/s:/bin/sh  \r\n\
            last:x:3:4::/l";
        let users = parse_passwd(data).unwrap();
        let got: Vec<(&str, i64, i64, &str)> = users
            .iter()
            .map(|u| (u.name.as_str(), u.uid, u.gid, u.home.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("root", 0, 0, "/root"),
                ("#comment", 5, 5, "/c"),
                ("short", 12, 0, ""),
                ("bad", 0, -7, "/h"),
                ("spaced", 1, 2, "/home/s"),
                ("last", 3, 4, "/l"),
            ]
        );
    }

    #[test]
    fn overlong_passwd_line_is_an_error() {
        let mut data = b"root:x:0:0::/root:/bin/sh\n".to_vec();
        data.extend(std::iter::repeat_n(b'a', MAX_SCAN_LINE));
        assert!(parse_passwd(&data).is_err());
    }

    #[test]
    fn group_lines_skip_comments_and_split_members() {
        let data = b"root:x:0:\n# staff:x:50:\n  #x:x:1:\nwheel:x:10:root,app\nempty::20\n\nbare";
        let groups = parse_group(data);
        let got: Vec<(&str, i64, Vec<&str>)> = groups
            .iter()
            .map(|g| {
                (
                    g.name.as_str(),
                    g.gid,
                    g.members.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("root", 0, vec![]),
                ("wheel", 10, vec!["root", "app"]),
                ("empty", 20, vec![]),
                ("bare", 0, vec![]),
            ]
        );
    }

    #[test]
    fn atoi_matches_go() {
        assert_eq!(atoi("42"), (42, true));
        assert_eq!(atoi("+42"), (42, true));
        assert_eq!(atoi("-42"), (-42, true));
        assert_eq!(atoi("007"), (7, true));
        assert_eq!(atoi(""), (0, false));
        assert_eq!(atoi("-"), (0, false));
        assert_eq!(atoi("1_000"), (0, false));
        assert_eq!(atoi(" 1"), (0, false));
        assert_eq!(atoi("99999999999999999999"), (i64::MAX, false));
        assert_eq!(atoi("-99999999999999999999"), (i64::MIN, false));
    }
}
