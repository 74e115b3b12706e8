// How the page talks to a session (PROTOCOL.md), behind one small interface, so that the same
// page can drive the session over a WebSocket (the local server) or, next, in a Web Worker
// running it in Pyodide (issue 21): only this module knows which.
//
// A transport is { send(msg): bool, sendRaw(text): bool, isOpen(): bool, isClosed(): bool,
// close(), exportHref(session, what): string } and reports through the handlers given to its
// factory: onOpen(), onMessage(text) (one protocol message as JSON text), onClose().

/** The local server's WebSocket `/ws`; exports are its `GET /export/{session}/{what}`. */
export function webSocketTransport({ onOpen, onMessage, onClose }, url = null) {
  const where = url || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const ws = new WebSocket(where);
  ws.addEventListener('open', () => onOpen && onOpen());
  ws.addEventListener('message', (ev) => onMessage && onMessage(ev.data));
  ws.addEventListener('close', () => onClose && onClose());
  const sendRaw = (text) => {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(text);
    return true;
  };
  return {
    kind: 'websocket',
    send: (msg) => sendRaw(JSON.stringify(msg)),
    sendRaw,
    isOpen: () => ws.readyState === WebSocket.OPEN,
    isClosed: () => ws.readyState === WebSocket.CLOSED,
    close: () => ws.close(),
    exportHref: (session, what) => `/export/${encodeURIComponent(session)}/${what}`,
  };
}
