"""A socket type that connects to anything, for pass-through nodes.

ComfyUI's validator (``comfy_execution.validation.validate_node_input``) documents that it honours a type whose
``__ne__`` says "equal"; the frontend treats ``"*"`` as a wildcard. The string value stays ``"*"``.
"""


class AnyType(str):
    def __ne__(self, other):  # noqa: D105
        return False


ANY = AnyType("*")
