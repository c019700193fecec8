//! Server-sent events, incrementally: bytes in (split anywhere, even inside a UTF-8
//! character), each event's `data` out. Comments (`: keep-alive`) and other fields are
//! skipped; `\r\n` and `\n` line ends are both accepted (the SSE spec).

/// Collects bytes until whole events.
#[derive(Debug, Default)]
pub struct SseReader {
    buffer: Vec<u8>,
    data: Vec<String>,
}

impl SseReader {
    /// Feeds bytes; returns the `data` of every event they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                self.data
                    .push(value.strip_prefix(' ').unwrap_or(value).to_string());
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere() {
        let stream =
            "data: {\"a\":\"あ\"}\n\n: keep-alive\n\ndata: x\r\ndata: y\r\n\r\ndata:[DONE]\n\n";
        let bytes = stream.as_bytes();
        for cut in 0..bytes.len() {
            let mut r = SseReader::default();
            let mut events = r.push(&bytes[..cut]);
            events.extend(r.push(&bytes[cut..]));
            assert_eq!(events, ["{\"a\":\"あ\"}", "x\ny", "[DONE]"], "cut at {cut}");
        }
        let mut r = SseReader::default();
        assert!(r.push(b"event: ping\nid: 3\n\n").is_empty());
        assert!(r.push(b"data: unfinished").is_empty());
    }
}
