"""Test helpers: network namespaces (`netns`) and strongSwan as a peer (`strongswan`)."""
