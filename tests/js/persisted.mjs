// Apollo Client's persisted-query link (automatic persisted queries, hashed queries by GET)
// against the server; prints one JSON object: the data of each of two fresh clients and every
// HTTP exchange {method, url, body, status, response}.
// Usage: node persisted.mjs URL QUERY
import { createHash } from "node:crypto";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, source] = process.argv.slice(2);
const exchanges = [];

async function recordingFetch(input, init = {}) {
  const response = await fetch(input, init);
  exchanges.push({
    method: init.method ?? "GET",
    url: String(input),
    body: init.body ? JSON.parse(init.body) : null,
    status: response.status,
    response: await response.clone().json(),
  });
  return response;
}

function client() {
  const persisted = createPersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
    useGETForHashedQueries: true,
  });
  const http = new HttpLink({ uri: url, fetch: recordingFetch });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

const query = gql(source);
const first = await client().query({ query, fetchPolicy: "no-cache" });
const second = await client().query({ query, fetchPolicy: "no-cache" });
process.stdout.write(JSON.stringify({ first: first.data, second: second.data, exchanges }) + "\n");
