/* placeholder: written by the plugin work */
