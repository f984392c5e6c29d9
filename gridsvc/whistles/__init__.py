"""Township whistles, departments report (镇街吹哨、部门报到): summons, attendance, scores."""
