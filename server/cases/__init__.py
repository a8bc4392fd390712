"""Cases (矛盾纠纷): the lifecycle as pure rules, and the services that read and write cases."""
