//! Reads the byte examples out of docs/protocol.md, so tests compare the document's bytes,
//! not a copy of them. Compiled for this crate's tests and, with the `doc-examples`
//! feature, for the tests of `hrm`, whose rules the same document defines.

const DOC: &str = include_str!("../../docs/protocol.md");

/// The bytes of the first ```text block after `heading`: on each line, the run of two-digit
/// hex tokens (after a 4-digit offset, if the line has one), up to the first other token.
pub fn hex_after(heading: &str) -> Vec<u8> {
    let at = DOC
        .find(heading)
        .unwrap_or_else(|| panic!("{heading:?} not in docs/protocol.md"));
    let block = &DOC[at..];
    let start = block.find("```text\n").expect("text block") + "```text\n".len();
    let end = block[start..].find("```").expect("end of block");
    let mut out = Vec::new();
    for line in block[start..start + end].lines() {
        let mut tokens = line.split_whitespace().peekable();
        if tokens
            .peek()
            .is_some_and(|t| t.len() == 4 && u16::from_str_radix(t, 16).is_ok())
        {
            tokens.next();
        }
        for t in tokens {
            match (t.len(), u8::from_str_radix(t, 16)) {
                (2, Ok(b)) => out.push(b),
                _ => break,
            }
        }
    }
    out
}
