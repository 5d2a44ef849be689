"""Who may see and do what: permission names, profiles, rules, Strawberry permission classes."""
