"""The images built here: core (spec, digest cache), rootfs (debootstrap), kind_node (the offline node
image), apps (the model, test-client and monitoring images), locks (python environments), cli."""
