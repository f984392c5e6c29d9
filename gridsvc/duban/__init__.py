"""督办: overdue stages chased level by level until someone answers in writing."""
