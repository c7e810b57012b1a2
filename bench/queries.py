"""The read workloads of the benchmarks and of the query-count tests, as GraphQL documents.

``PROVIDER_DASHBOARD``: what a provider's app shows on opening, for the acting marketplace: its
file, services with status, the last 20 requests sent to it with its answer and the client,
upcoming interventions, conversations with their last message and unread count.

``PROVIDERS_SCREEN``: the staff's providers list: company, status, services, the state of the
company documents, and the counts per status.
"""

from __future__ import annotations

PROVIDER_DASHBOARD = """
query ProviderDashboard($rows: Int = 20, $from: Date = null) {
  myMemberships {
    id
    status
    marketplaceName
    mustAcceptTerms
    company { name }
    services { status service { id name } }
    requests(first: 20) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        status
        city
        postalCode
        description
        createdAt
        service { name }
        client { fullName phone }
        myDispatch { status message price answeredAt answerHistory { toStatus createdAt } }
      }
    }
    interventions(first: $rows, startsFrom: $from) {
      nodes { id status startsAt endsAt price companyName service { name } }
    }
    conversations(first: $rows) {
      nodes {
        id
        kind
        clientName
        lastMessageAt
        unreadCount
        lastMessage { text senderName sentByViewer createdAt }
      }
    }
  }
}
"""

PROVIDERS_SCREEN = """
query ProvidersScreen($first: Int = 50, $after: String = null) {
  providerCounts { invited applied accepted suspended deactivated total }
  providers(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id
        status
        appliedAt
        createdAt
        documentState
        company { name siret email }
        services { status service { name } }
      }
    }
  }
}
"""
