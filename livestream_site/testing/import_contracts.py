"""An import-linter contract of our own: no import cycle between modules of different packages.

import-linter's built-in contracts check layers and independence; none says "files may import each
other in a cycle only inside one package". This one finds every strongly connected group of modules
in the import graph (imports inside functions count: grimp reads them all) and fails on each group
whose modules live in more than one package, printing one cycle of it.
"""

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def _package(module: str, graph) -> str:
    # A package's __init__ is the package itself; any other module belongs to its parent.
    return module if graph.find_children(module) else module.rpartition(".")[0]


def _strongly_connected(graph, modules: set[str]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph is deep enough to exhaust Python's recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


class AcyclicAcrossPackagesContract(Contract):
    """Modules of different packages never import each other in a cycle (direct or through others)."""

    type_name = "acyclic_across_packages"

    containers = fields.SetField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        modules = {
            module
            for container in self.containers  # type: ignore[attr-defined]
            for module in {container, *graph.find_descendants(container)}
        }
        cycles = []
        for group in _strongly_connected(graph, modules):
            packages = {_package(module, graph) for module in group}
            if len(packages) > 1:
                members = set(group)
                start = group[0]
                back = next(
                    (
                        graph.find_shortest_chain(importer=other, imported=start)
                        for other in sorted(graph.find_modules_directly_imported_by(start) & members)
                    ),
                    None,
                )
                cycles.append({"packages": sorted(packages), "cycle": [start, *(back or [])]})
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(f"A cycle across {', '.join(cycle['packages'])}:")
            output.print_error("    " + " -> ".join(cycle["cycle"]))
            output.new_line()
