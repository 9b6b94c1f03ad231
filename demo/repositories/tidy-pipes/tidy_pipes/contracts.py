from dataclasses import dataclass, field


class ContractViolation(ValueError):
    """Raised with every broken rule at once, so one run shows the whole problem."""

    def __init__(self, table, problems):
        self.problems = problems
        super().__init__(f"{table}: " + "; ".join(problems))


@dataclass
class Contract:
    key: str
    not_null: list = field(default_factory=list)
    non_negative: list = field(default_factory=list)
    allowed: dict = field(default_factory=dict)

    def problems(self, rows):
        found = []
        keys = [row.get(self.key) for row in rows]
        if len(keys) != len(set(keys)):
            found.append(f"duplicate values in {self.key}")
        for column in self.not_null:
            missing = sum(1 for row in rows if row.get(column) is None)
            if missing:
                found.append(f"{missing} null values in {column}")
        for column in self.non_negative:
            negative = sum(1 for row in rows if (row.get(column) or 0) < 0)
            if negative:
                found.append(f"{negative} negative values in {column}")
        for column, values in self.allowed.items():
            unknown = {row.get(column) for row in rows} - set(values)
            if unknown:
                found.append(f"unexpected {column}: {sorted(map(str, unknown))}")
        return found

    def check(self, rows, table="table"):
        found = self.problems(rows)
        if found:
            raise ContractViolation(table, found)
        return rows
