// Subscribe with the reference graphql-transport-ws client and print one JSON line per message:
// {"next": payload} | {"error": [errors]} | {"complete": true} | {"closed": code}.
// Usage: node subscribe.mjs URL TOKEN QUERY VARIABLES_JSON COUNT
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, query, variables, count] = process.argv.slice(2);
const wanted = Number(count);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: { closed: (event) => print({ closed: event.code }) },
});

let received = 0;
const finish = async (code) => {
  await client.dispose();
  process.exit(code);
};

client.subscribe(
  { query, variables: JSON.parse(variables) },
  {
    next: (payload) => {
      print({ next: payload });
      if (payload.errors) return;
      received += 1;
      if (received >= wanted) finish(0);
    },
    error: (errors) => {
      print({ error: Array.isArray(errors) ? errors : [{ message: String(errors) }] });
      finish(0);
    },
    complete: () => {
      print({ complete: true });
      finish(0);
    },
  },
);
setTimeout(() => finish(2), 60000);
