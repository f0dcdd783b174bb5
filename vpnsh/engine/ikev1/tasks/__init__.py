"""IKEv1 tasks: one concern each, both roles (strongSwan libcharon sa/ikev1/tasks)."""
