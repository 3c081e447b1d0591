"""Federated hubs: pure routing policy, Erlang C, traffic and the queue simulation."""
