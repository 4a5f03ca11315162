"""The platform's OCI image registry, in four parts:

* ``tokens``: the token issuer (RSA key, certificate, RS256 JWTs) and the token endpoint's logic;
* ``process``: ``LocalRegistry``, the ``docker-registry`` process on loopback trusting those tokens;
* ``client``: ``RegistryClient``, reading catalog, tags and manifests as the platform;
* ``credentials``: the short-lived push and pull logins the token endpoint accepts;

and ``service.RegistryService``, which runs them for one platform process: started with the
platform, reconfigured when its address changes, stopped with it. The API (``api/registry.py``,
``api/versions.py``) and the scheduler (``execution.py``) call only the service.
"""
