def minimize(): pass
class BOResult: pass
