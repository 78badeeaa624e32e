// Server-sent events over fetch(): an EventSource cannot POST or send an Authorization header.

/**
 * Yield the data of each event of a text/event-stream Response body, as the SSE specification
 * frames it: lines end in \n, \r\n or \r; `data:` lines join with \n; a blank line ends an event.
 */
export async function* eventData(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      for (;;) {
        const end = buffer.search(/[\r\n]/);
        // A \r last in the buffer may be the first half of \r\n: wait for the next chunk.
        if (end < 0 || (buffer[end] === "\r" && end === buffer.length - 1)) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(buffer.startsWith("\r\n", end) ? end + 2 : end + 1);
        if (line === "") {
          if (data.length) yield data.join("\n");
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value_ = colon < 0 ? "" : line.slice(colon + 1);
        if (value_.startsWith(" ")) value_ = value_.slice(1);
        if (field === "data") data.push(value_);
      }
    }
    // An event the stream ended inside of is dropped, as the specification says.
  } finally {
    // Closes the connection if the reader stopped early (the server then stops generating).
    reader.cancel().catch(() => {});
  }
}
