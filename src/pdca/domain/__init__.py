"""Pure domain: attrs classes and rules, no database, no CLI."""
