"""No import circle among the modules of ``streams``, type-checking imports included (the layer
contracts of ``make test`` order the sub-packages; this holds inside each of them too)."""

from __future__ import annotations

import grimp


def test_no_streams_module_imports_itself_back_through_others() -> None:
    graph = grimp.build_graph("streams", exclude_type_checking_imports=False)
    circles = [
        graph.find_shortest_chain(importer=imported, imported=importer)
        for importer in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
        if graph.chain_exists(importer=imported, imported=importer)
    ]
    assert circles == [], f"import circles: {circles}"
