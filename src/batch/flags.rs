//! Message status as mbox mailers record it, turned into Maildir flags.
//!
//! Three header conventions carry it: `Status:` (`R` read, `O` old, i.e.
//! seen by a client so no longer new), `X-Status:` (`A` answered, `F`
//! flagged, `D` deleted, `T` draft; mutt, Pine, Thunderbird) and
//! Thunderbird's `X-Mozilla-Status:` hex bit field (0x0001 read, 0x0002
//! replied, 0x0004 marked, 0x0008 deleted, 0x1000 forwarded). Maildir
//! writes the flags sorted in ASCII order after `:2,` (D draft, F flagged,
//! P passed, R replied, S seen, T trashed), and a message a client has
//! seen lives in `cur/`, an unseen one in `new/`.

use crate::message::EntityRef;

/// Status of one message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailFlags {
    /// Read (`S`).
    pub seen: bool,
    /// Answered (`R`).
    pub replied: bool,
    /// Flagged (`F`).
    pub flagged: bool,
    /// Marked deleted (`T`).
    pub deleted: bool,
    /// Draft (`D`).
    pub draft: bool,
    /// Forwarded (`P`).
    pub passed: bool,
    /// No longer new: `cur/` rather than `new/`.
    pub old: bool,
}

impl MailFlags {
    /// The Maildir info letters, sorted.
    pub fn letters(&self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.draft, 'D'),
            (self.flagged, 'F'),
            (self.passed, 'P'),
            (self.replied, 'R'),
            (self.seen, 'S'),
            (self.deleted, 'T'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }

    /// Flags from a Maildir info suffix (`2,FS`).
    pub fn from_info(info: &str) -> MailFlags {
        let letters = info.strip_prefix("2,").unwrap_or("");
        MailFlags {
            draft: letters.contains('D'),
            flagged: letters.contains('F'),
            passed: letters.contains('P'),
            replied: letters.contains('R'),
            seen: letters.contains('S'),
            deleted: letters.contains('T'),
            old: true,
        }
    }
}

/// The flags recorded in a message's `Status`, `X-Status` and
/// `X-Mozilla-Status` fields (all of them combined).
pub fn maildir_flags(root: &EntityRef<'_>) -> MailFlags {
    flags_of(|name| root.header(name))
}

/// [`maildir_flags`], given what reads a field: the first one named so,
/// raw and folded, as [`EntityRef::header`] gives it.
pub(crate) fn flags_of<'a>(header: impl Fn(&str) -> Option<&'a [u8]>) -> MailFlags {
    let mut f = MailFlags::default();
    if let Some(v) = header("status") {
        f.seen |= v.contains(&b'R');
        f.old |= v.contains(&b'O') || v.contains(&b'R');
    }
    if let Some(v) = header("x-status") {
        f.replied |= v.contains(&b'A');
        f.flagged |= v.contains(&b'F');
        f.deleted |= v.contains(&b'D');
        f.draft |= v.contains(&b'T');
    }
    if let Some(v) = header("x-mozilla-status") {
        let text = String::from_utf8_lossy(v);
        if let Ok(bits) = u32::from_str_radix(text.trim(), 16) {
            f.seen |= bits & 0x0001 != 0;
            f.replied |= bits & 0x0002 != 0;
            f.flagged |= bits & 0x0004 != 0;
            f.deleted |= bits & 0x0008 != 0;
            f.passed |= bits & 0x1000 != 0;
            f.old |= bits & 0x0001 != 0;
        }
    }
    f.old |= f.seen || f.replied || f.deleted;
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn flags(header: &str) -> MailFlags {
        let m = Message::parse(format!("{header}\nSubject: x\n\nbody\n").into_bytes());
        maildir_flags(&m.root())
    }

    #[test]
    fn status_fields_map_to_letters() {
        assert_eq!(flags("Status: RO").letters(), "S");
        assert!(!flags("Status: O").seen && flags("Status: O").old);
        assert_eq!(flags("Status: RO\nX-Status: AFD").letters(), "FRST");
        assert_eq!(flags("X-Mozilla-Status: 0008").letters(), "T");
        assert_eq!(flags("X-Mozilla-Status: 1003").letters(), "PRS");
        assert_eq!(flags("X-Status: T").letters(), "D");
        assert_eq!(flags("From: a@b").letters(), "");
        assert!(!flags("From: a@b").old);
        assert_eq!(MailFlags::from_info("2,ST").letters(), "ST");
    }
}
